// One real callbackd for a test file: `go run ./internal/testserver` from
// the repository's root (with `-bin $CALLBACKD_TESTSERVER_BIN` when that is
// set, so a Makefile can hand over a prebuilt binary). It prints one JSON
// line once the API answers, {"url","admin_key","numbers":{...}}, and stops
// when its stdin closes, which stop() does (and so does this process's
// exit, however it ends).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's root: clients/js/tests -> ../../.. */
export const REPO_ROOT = resolve(here, '..', '..', '..');

const STARTUP_TIMEOUT_MS = Number(process.env.CALLBACKD_TESTSERVER_TIMEOUT_MS || 180_000);

function binary() {
  const bin = process.env.CALLBACKD_TESTSERVER_BIN;
  if (!bin) return undefined;
  if (isAbsolute(bin)) return bin;
  // Relative to the current directory when it is there, else to the repository's root.
  return existsSync(bin) ? resolve(bin) : resolve(REPO_ROOT, bin);
}

/**
 * Starts the test server and resolves to
 * `{ url, adminKey, numbers, log(), stop() }`.
 */
export async function startTestServer() {
  const args = ['run', './internal/testserver'];
  const bin = binary();
  if (bin) args.push('-bin', bin);
  const child = spawn('go', args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    log = (log + chunk).slice(-20_000);
  });
  const exited = new Promise((res) => child.once('exit', (code, sig) => res(sig || code)));
  const logTail = () => log.slice(-4000);

  const line = await new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`the test server did not start within ${STARTUP_TIMEOUT_MS} ms; its log ends:\n${logTail()}`)), STARTUP_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      rej(new Error(`cannot run go (is Go installed?): ${err.message}`));
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        res(out.slice(0, nl));
      }
    });
    exited.then((how) => {
      clearTimeout(timer);
      rej(new Error(`the test server (go ${args.join(' ')}) exited (${how}) before it was ready; its log ends:\n${logTail()}`));
    });
  }).catch(async (err) => {
    child.stdin.end();
    child.kill('SIGTERM');
    throw err;
  });

  let info;
  try {
    info = JSON.parse(line);
  } catch {
    child.stdin.end();
    throw new Error(`the test server printed ${JSON.stringify(line.slice(0, 200))}, not its JSON line`);
  }

  let stopped;
  const stop = () => {
    stopped ??= (async () => {
      child.stdin.end(); // the test server stops when its stdin closes
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    })();
    return stopped;
  };
  return { url: info.url, adminKey: info.admin_key, numbers: info.numbers, log: logTail, stop };
}
