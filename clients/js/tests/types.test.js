// The hand-written declarations: every runtime export is declared and every
// declared value exists; and, when a TypeScript compiler is at hand ($TSC,
// node_modules/.bin/tsc or tsc on the PATH), tests/types/usage.ts compiles
// against index.d.ts under --strict. Without one that part is skipped:
// TypeScript is not a dependency.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as lib from '../index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

test('index.d.ts declares exactly the runtime exports', () => {
  const dts = readFileSync(join(root, 'index.d.ts'), 'utf8');
  const declared = new Set([...dts.matchAll(/^export declare (?:class|function|const) (\w+)/gm)].map((m) => m[1]));
  assert.deepEqual([...declared].sort(), Object.keys(lib).sort());
});

test('the resource classes declare exactly their runtime methods', () => {
  const dts = readFileSync(join(root, 'index.d.ts'), 'utf8');
  for (const name of ['Client', 'Callbacks', 'Teams', 'Webhooks', 'ApiKeys', 'Hooks', 'Triggers', 'Page']) {
    const body = dts.match(new RegExp(`^export declare class ${name}\\b[^{]*\\{([\\s\\S]*?)^\\}`, 'm'))?.[1];
    assert.ok(body, `class ${name} is declared`);
    const declared = [...body.matchAll(/^ {2}(\w+)(?:<[^>]*>)?\(/gm)].map((m) => m[1]).filter((m) => m !== 'constructor');
    const proto = lib[name].prototype;
    const runtime = Object.getOwnPropertyNames(proto).filter(
      (m) => m !== 'constructor' && !m.startsWith('_') && typeof Object.getOwnPropertyDescriptor(proto, m).value === 'function',
    );
    assert.deepEqual(declared.sort(), runtime.sort(), name);
  }
});

test('package.json points at the entry and the declarations', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.name, '@callbackd/client');
  assert.equal(pkg.type, 'module');
  assert.deepEqual(pkg.dependencies ?? {}, {});
  assert.equal(pkg.exports['.'].types, './index.d.ts');
  assert.equal(pkg.exports['.'].import, './index.js');
  assert.equal(pkg.version, lib.VERSION);
  for (const f of [pkg.types, pkg.main, pkg.exports['.'].types, pkg.exports['.'].import]) assert.ok(existsSync(join(root, f)), f);
});

function findTsc() {
  const candidates = [process.env.TSC, join(root, 'node_modules', '.bin', 'tsc')].filter(Boolean);
  for (const c of candidates) if (existsSync(c)) return c;
  const which = spawnSync(process.platform === 'win32' ? 'where' : 'which', ['tsc'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim().split('\n')[0];
  return undefined;
}

const tsc = findTsc();

test('the declarations type-check (tsc --strict)', { skip: tsc ? false : 'no TypeScript compiler (set TSC or put tsc on the PATH)' }, () => {
  try {
    execFileSync(tsc, ['-p', join(root, 'tests', 'types', 'tsconfig.json')], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    assert.fail(`tsc failed:\n${err.stdout || ''}${err.stderr || ''}`);
  }
});
