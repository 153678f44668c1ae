// Retries, timeouts and the Idempotency-Key, against tiny local node:http
// stubs that answer as each test scripts (the rest of the suite runs
// against a real callbackd).

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  ApiConnectionError,
  ApiTimeoutError,
  Client,
  ConflictError,
  DailyLimitError,
  RateLimitError,
  ServerError,
  ServiceUnavailableError,
} from '../index.js';

/** A stub whose answers are scripted per test: `script` is a list of [status, headers, body] or functions. */
class Stub {
  constructor() {
    this.requests = [];
    this.script = [];
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        this.requests.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now() });
        const step = this.script.length > 1 ? this.script.shift() : this.script[0];
        if (typeof step === 'function') return step(req, res);
        const [status, headers = {}, payload] = step || [200, {}, {}];
        const text = payload === undefined ? '' : typeof payload === 'string' ? payload : JSON.stringify(payload);
        const ctype = status >= 400 ? 'application/problem+json' : 'application/json';
        res.writeHead(status, { 'Content-Type': ctype, ...headers });
        res.end(text);
      });
    });
  }

  async listen() {
    await new Promise((res) => this.server.listen(0, '127.0.0.1', res));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
  }

  reset(...script) {
    this.requests = [];
    this.script = script;
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((res) => this.server.close(res));
  }
}

const problem = (status, code, extra = {}) => ({
  type: `urn:callbackd:problem:${code}`,
  title: code,
  status,
  detail: `stub says ${code}`,
  ...extra,
});

describe('retries', { concurrency: false }, () => {
  const stub = new Stub();
  let client;
  before(async () => {
    await stub.listen();
    client = new Client({ baseUrl: stub.url, apiKey: 'cbk_test', maxRetries: 3, backoffBaseMs: 10, backoffMaxMs: 50 });
  });
  after(() => stub.close());

  test('a GET is retried on 503 and 502 until it succeeds', async () => {
    stub.reset([503, {}, problem(503, 'draining')], [502, {}, 'bad gateway'], [200, {}, { id: 'cb_1' }]);
    const cb = await client.callbacks.get('cb_1');
    assert.equal(cb.id, 'cb_1');
    assert.equal(stub.requests.length, 3);
    assert.ok(stub.requests.every((r) => r.method === 'GET' && r.url === '/v1/callbacks/cb_1'));
    assert.equal(stub.requests[0].headers.authorization, 'Bearer cbk_test');
  });

  test('a POST gets an Idempotency-Key, the same on each retry', async () => {
    stub.reset([500, {}, problem(500, 'internal')], [503, {}, problem(503, 'draining')], [201, {}, { id: 'cb_2', status: 'scheduled' }]);
    const cb = await client.callbacks.create({ customer: { number: '+15550000005' }, rep_number: '+15550000002' });
    assert.equal(cb.id, 'cb_2');
    assert.equal(stub.requests.length, 3);
    const keys = stub.requests.map((r) => r.headers['idempotency-key']);
    assert.match(keys[0], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(new Set(keys).size, 1);
    assert.ok(stub.requests.every((r) => r.body === stub.requests[0].body));
    assert.deepEqual(JSON.parse(stub.requests[0].body), { customer: { number: '+15550000005' }, rep_number: '+15550000002' });
    assert.equal(stub.requests[0].headers['content-type'], 'application/json');

    // Each request gets its own key; the caller's own is used as it is.
    stub.reset([201, {}, { id: 'cb_3' }]);
    await client.callbacks.create({ customer: { number: '+15550000005' }, rep_number: '+15550000002' });
    await client.callbacks.create({ customer: { number: '+15550000005' }, rep_number: '+15550000002' }, { idempotencyKey: 'order-42' });
    assert.notEqual(stub.requests[0].headers['idempotency-key'], keys[0]);
    assert.equal(stub.requests[1].headers['idempotency-key'], 'order-42');
  });

  test("a callback's own deliveries: the page's query and cursor; a retry is a POST with a key, the same on its retry", async () => {
    stub.reset(
      [200, {}, { data: [{ id: 'dlv_2', status: 'succeeded' }, { id: 'dlv_1', status: 'failed' }], has_more: true }],
      [200, {}, { data: [{ id: 'dlv_0', status: 'succeeded' }], has_more: false }],
      [503, {}, problem(503, 'draining')],
      [200, {}, { id: 'dlv_1', callback_id: 'cb/x', status: 'pending', attempts: [] }],
    );
    const ids = [];
    for await (const d of client.callbacks.deliveries('cb/x', { limit: 2 })) ids.push(d.id);
    assert.deepEqual(ids, ['dlv_2', 'dlv_1', 'dlv_0']);
    assert.deepEqual(
      stub.requests.map((r) => [r.method, r.url]),
      [
        ['GET', '/v1/callbacks/cb%2Fx/deliveries?limit=2'],
        ['GET', '/v1/callbacks/cb%2Fx/deliveries?limit=2&starting_after=dlv_1'],
      ],
    );
    const d = await client.callbacks.retryDelivery('cb/x', 'dlv_1');
    assert.deepEqual([d.id, d.status], ['dlv_1', 'pending']);
    const retries = stub.requests.slice(2);
    assert.deepEqual(
      retries.map((r) => [r.method, r.url, r.body]),
      [
        ['POST', '/v1/callbacks/cb%2Fx/deliveries/dlv_1/retry', ''],
        ['POST', '/v1/callbacks/cb%2Fx/deliveries/dlv_1/retry', ''],
      ],
    );
    assert.ok(retries[0].headers['idempotency-key']);
    assert.equal(retries[0].headers['idempotency-key'], retries[1].headers['idempotency-key']);
    await assert.rejects(client.callbacks.retryDelivery('cb_x', ''), TypeError);
  });

  test("a trigger's rotate-secret: the overlap is sent only when given; the old (id, options) call still works", async () => {
    stub.reset([200, {}, { secret: 'tsec_new' }]);
    assert.equal(await client.triggers.rotateSecret('trg/x'), 'tsec_new');
    assert.equal(await client.triggers.rotateSecret('trg_x', { overlap: '1h' }, { idempotencyKey: 'rot-1' }), 'tsec_new');
    await client.triggers.rotateSecret('trg_x', { overlap: null });
    await client.triggers.rotateSecret('trg_x', { idempotencyKey: 'rot-2' });
    await client.triggers.rotateSecret('trg_x', {}, { idempotencyKey: 'rot-3' });
    await client.triggers.rotateSecret('trg_x', null);
    assert.deepEqual(
      stub.requests.map((r) => [r.method, r.url, r.body, r.headers['idempotency-key']]),
      [
        ['POST', '/v1/triggers/trg%2Fx/rotate-secret', '', stub.requests[0].headers['idempotency-key']],
        ['POST', '/v1/triggers/trg_x/rotate-secret', '{"overlap":"1h"}', 'rot-1'],
        ['POST', '/v1/triggers/trg_x/rotate-secret', '{"overlap":null}', stub.requests[2].headers['idempotency-key']],
        ['POST', '/v1/triggers/trg_x/rotate-secret', '', 'rot-2'],
        ['POST', '/v1/triggers/trg_x/rotate-secret', '', 'rot-3'],
        ['POST', '/v1/triggers/trg_x/rotate-secret', '', stub.requests[5].headers['idempotency-key']],
      ],
    );
    assert.ok(stub.requests[0].headers['idempotency-key']);
    assert.equal(stub.requests[0].headers['content-type'], undefined);
    assert.equal(stub.requests[1].headers['content-type'], 'application/json');
    await assert.rejects(client.triggers.rotateSecret(''), TypeError);
  });

  test('a POST without an Idempotency-Key is not retried on 5xx', async () => {
    stub.reset([503, {}, problem(503, 'draining')], [201, {}, { id: 'never' }]);
    await assert.rejects(
      client.callbacks.create({ customer: { number: '+15550000005' }, rep_number: '+15550000002' }, { idempotencyKey: false }),
      (err) => err instanceof ServiceUnavailableError && err.status === 503 && err.code === 'draining',
    );
    assert.equal(stub.requests.length, 1);
    assert.equal(stub.requests[0].headers['idempotency-key'], undefined);
  });

  test('501 and 4xx are not retried; the retries run out', async () => {
    stub.reset([501, {}, problem(501, 'internal')]);
    await assert.rejects(client.teams.list(), (err) => err instanceof ServerError && err.status === 501);
    assert.equal(stub.requests.length, 1);

    stub.reset([404, {}, problem(404, 'not-found')]);
    await assert.rejects(client.teams.get('nope'), { name: 'NotFoundError', status: 404 });
    assert.equal(stub.requests.length, 1);

    stub.reset([500, {}, problem(500, 'internal')]);
    await assert.rejects(client.teams.get('x'), (err) => err instanceof ServerError && err.status === 500);
    assert.equal(stub.requests.length, 4); // the first and maxRetries = 3

    stub.reset([500, {}, problem(500, 'internal')]);
    await assert.rejects(client.teams.get('x', { maxRetries: 0 }), ServerError);
    assert.equal(stub.requests.length, 1);
  });

  test('PATCH and DELETE are retried on 5xx', async () => {
    stub.reset([502, {}, ''], [200, {}, { id: 'sales', name: 'Sales' }]);
    assert.equal((await client.teams.update('sales', { name: 'Sales' })).name, 'Sales');
    assert.equal(stub.requests.length, 2);
    assert.equal(stub.requests[1].method, 'PATCH');
    stub.reset([503, {}, ''], [204, {}, undefined]);
    assert.equal(await client.teams.delete('sales'), undefined);
    assert.equal(stub.requests.length, 2);
  });

  test('429 waits as Retry-After says, for any method', async () => {
    stub.reset([429, { 'Retry-After': '1' }, problem(429, 'rate-limited')], [201, {}, { matched: false, reason: 'condition is false' }]);
    const t0 = Date.now();
    const result = await client.triggers.fire('trg_x', { score: 1 }, { secret: 'tsec_x', idempotencyKey: false });
    assert.equal(result.matched, false);
    assert.equal(stub.requests.length, 2);
    const waited = stub.requests[1].at - stub.requests[0].at;
    assert.ok(waited >= 950, `waited ${waited} ms`);
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(stub.requests[0].headers['x-callbackd-token'], 'tsec_x');
    assert.equal(stub.requests[0].headers.authorization, undefined);
  });

  test('429 with a Retry-After beyond maxRetryAfterMs, or a daily limit, is thrown at once', async () => {
    stub.reset([429, { 'Retry-After': '3600' }, problem(429, 'rate-limited')]);
    await assert.rejects(client.callbacks.list(), (err) => {
      assert.ok(err instanceof RateLimitError);
      assert.equal(err.retryAfterMs, 3_600_000);
      return true;
    });
    assert.equal(stub.requests.length, 1);

    stub.reset([429, {}, problem(429, 'daily-limit', { field: 'customer.number', reason: 'daily_limit' })]);
    await assert.rejects(
      client.callbacks.create({ customer: { number: '+15550000005' }, rep_number: '+15550000002' }),
      (err) => err instanceof DailyLimitError && err.reason === 'daily_limit' && err.field === 'customer.number',
    );
    assert.equal(stub.requests.length, 1);

    // A 429 without Retry-After backs off.
    stub.reset([429, {}, problem(429, 'rate-limited')], [200, {}, { data: [], has_more: false }]);
    assert.deepEqual((await client.callbacks.list()).data, []);
    assert.equal(stub.requests.length, 2);
  });

  test('a Retry-After as an HTTP date', async () => {
    const when = new Date(Date.now() + 1500).toUTCString();
    stub.reset([503, { 'Retry-After': when }, problem(503, 'draining')], [200, {}, { status: 'ok', checks: {} }]);
    const ready = await client.ready();
    assert.equal(ready.status, 'ok');
    assert.equal(stub.requests.length, 2);
    assert.ok(stub.requests[1].at - stub.requests[0].at >= 400);
  });

  test('409 idempotency-in-flight is retried with the same key', async () => {
    stub.reset([409, {}, problem(409, 'idempotency-in-flight', { field: 'Idempotency-Key' })], [200, {}, { id: 'cb_1', status: 'canceled' }]);
    assert.equal((await client.callbacks.cancel('cb_1')).status, 'canceled');
    assert.equal(stub.requests.length, 2);
    assert.equal(stub.requests[0].headers['idempotency-key'], stub.requests[1].headers['idempotency-key']);

    stub.reset([409, {}, problem(409, 'conflict')]);
    await assert.rejects(client.callbacks.cancel('cb_1'), (err) => err instanceof ConflictError && err.code === 'conflict');
    assert.equal(stub.requests.length, 1);
  });

  test('a timeout is an ApiTimeoutError after the retries', async () => {
    stub.reset((req, res) => setTimeout(() => res.writeHead(200).end('{}'), 2000));
    const t0 = Date.now();
    await assert.rejects(client.callbacks.get('cb_slow', { timeoutMs: 100, maxRetries: 1 }), (err) => {
      assert.ok(err instanceof ApiTimeoutError);
      assert.ok(err instanceof ApiConnectionError);
      assert.match(err.message, /100 ms/);
      return true;
    });
    assert.equal(stub.requests.length, 2);
    assert.ok(Date.now() - t0 < 1500);
  });

  test("the caller's AbortSignal stops at once, without retries", async () => {
    stub.reset((req, res) => setTimeout(() => res.writeHead(200).end('{}'), 2000));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(client.callbacks.get('cb_slow', { signal: ac.signal }), { name: 'AbortError' });
    assert.equal(stub.requests.length, 1);
  });
});

describe('connection errors', () => {
  test('a refused connection is retried, then an ApiConnectionError', async () => {
    // A port that was free a moment ago.
    const s = createServer();
    await new Promise((res) => s.listen(0, '127.0.0.1', res));
    const { port } = s.address();
    await new Promise((res) => s.close(res));
    let calls = 0;
    const counting = (...args) => {
      calls++;
      return fetch(...args);
    };
    const client = new Client({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'k', maxRetries: 2, backoffBaseMs: 5, fetch: counting });
    // Even a POST without a key: a refused connection sent nothing.
    await assert.rejects(
      client.callbacks.create({ customer: { number: '+15550000005' }, rep_number: '+15550000002' }, { idempotencyKey: false }),
      (err) => {
        assert.ok(err instanceof ApiConnectionError);
        assert.ok(!(err instanceof ApiTimeoutError));
        assert.match(err.message, /ECONNREFUSED/);
        assert.ok(err.cause);
        return true;
      },
    );
    assert.equal(calls, 3);
  });

  test('a dropped connection is retried for a GET, not for a POST without a key', async () => {
    let n = 0;
    const s = createServer((req, res) => {
      n++;
      if (n === 1 || req.method === 'POST') return req.socket.destroy();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"data":[],"has_more":false}');
    });
    await new Promise((res) => s.listen(0, '127.0.0.1', res));
    const client = new Client({ baseUrl: `http://127.0.0.1:${s.address().port}`, apiKey: 'k', backoffBaseMs: 5 });
    try {
      assert.deepEqual((await client.teams.list()).data, []);
      assert.equal(n, 2);
      n = 10;
      await assert.rejects(client.apiKeys.create({ name: 'x', scopes: ['admin'] }, { idempotencyKey: false }), ApiConnectionError);
      assert.equal(n, 11);
    } finally {
      s.closeAllConnections?.();
      await new Promise((res) => s.close(res));
    }
  });

  test('options and IDs are checked', async () => {
    assert.throws(() => new Client({}), TypeError);
    assert.throws(() => new Client({ baseUrl: 'localhost:8080' }), TypeError);
    assert.throws(() => new Client({ baseUrl: 'http://127.0.0.1:1', maxRetries: -1 }), RangeError);
    const c = new Client({ baseUrl: 'http://127.0.0.1:1/', apiKey: 'k' });
    assert.equal(c.baseUrl, 'http://127.0.0.1:1');
    await assert.rejects(c.callbacks.get(''), TypeError);
    await assert.rejects(c.callbacks.events(undefined), TypeError);
    await assert.rejects(c.triggers.fire('trg_x', {}), TypeError); // no secret
  });
});
