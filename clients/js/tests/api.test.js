// The client against a real callbackd on the sandbox trunk: one server for
// this file (go run ./internal/testserver), the tests running concurrently.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  ApiError,
  AuthenticationError,
  BadRequestError,
  Client,
  ConflictError,
  DestinationNotAllowedError,
  IdempotencyMismatchError,
  NotFoundError,
  Page,
  PagePromise,
  PermissionDeniedError,
  ValidationError,
  verify,
} from '../index.js';
import { startReceiver } from './receiver.js';
import { startTestServer } from './testserver.js';

const tomorrow = (minutes = 0) => new Date(Date.now() + 24 * 3600_000 + minutes * 60_000);
const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** Polls `fn` until it returns something truthy; rejects after timeoutMs. */
async function eventually(fn, timeoutMs = 30_000, what = 'a condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every event of a callback's log, through the async iterator. */
async function allEvents(client, id, params) {
  const out = [];
  for await (const ev of client.callbacks.events(id, params)) out.push(ev);
  return out;
}

function assertSequences(events, what) {
  assert.deepEqual(
    events.map((e) => e.sequence),
    events.map((_, i) => i + 1),
    `${what}: sequences 1..N in order`,
  );
}

describe('against a real callbackd', { concurrency: true, timeout: 300_000 }, () => {
  let server;
  let client;
  let numbers;
  let receiver;

  before(async () => {
    server = await startTestServer();
    numbers = server.numbers;
    client = new Client({ baseUrl: server.url, apiKey: server.adminKey, timeoutMs: 10_000 });
    receiver = await startReceiver();
  });

  after(async () => {
    await receiver?.close();
    await server?.stop();
  });

  test('health, readiness, the OpenAPI document and a backup', async () => {
    assert.deepEqual(await client.health(), { status: 'ok' });
    assert.equal((await client.ready()).status, 'ok');
    const doc = await client.openapi();
    assert.match(doc.openapi, /^3\.1/);
    assert.ok(doc.paths['/v1/callbacks']);
    const backup = await client.backup();
    assert.ok(backup instanceof Uint8Array && backup.length > 0);
  });

  test('a callback connects and completes, step by step in its event log', async () => {
    const cb = await client.callbacks.create({
      customer: { number: numbers.hangup, name: 'Ann' },
      rep_number: numbers.echo,
      metadata: { order: '42' },
    });
    assert.match(cb.id, /^cb_[0-9a-z]{26}$/);
    assert.ok(['scheduled', 'in_progress'].includes(cb.status), cb.status);
    assert.deepEqual(cb.customer, { number: numbers.hangup, name: 'Ann' });
    assert.deepEqual(cb.metadata, { order: '42' });

    // Connected: the customer's leg answered, while the call goes on.
    const connected = await eventually(
      async () => {
        const evs = await allEvents(client, cb.id);
        return evs.find((e) => e.type === 'call.connected' && e.data.leg === 'customer');
      },
      30_000,
      'the customer to be connected',
    );
    assert.equal(connected.data.sip_code, 200);
    const during = await client.callbacks.get(cb.id);
    assert.equal(during.status, 'in_progress');
    assert.equal(during.attempts.length, 1);

    // Completed: the customer hangs up after about 5 s.
    const done = await client.callbacks.wait(cb.id, { timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(done.status, 'completed');
    assert.equal(done.attempt_count, 1);
    const [attempt] = done.attempts;
    assert.equal(attempt.outcome, 'connected');
    assert.equal(attempt.customer.sip_code, 200);
    assert.equal(attempt.reps[0].sip_code, 200);
    assert.ok(attempt.talk_seconds >= 3 && attempt.talk_seconds <= 10, `talk_seconds ${attempt.talk_seconds}`);

    // The whole log, in order; read one page at once and three at a time.
    const firstPage = await client.callbacks.events(cb.id);
    assert.equal(firstPage.has_more, false);
    const events = firstPage.data;
    assertSequences(events, 'events');
    assert.equal(events[0].type, 'callback.scheduled');
    assert.equal(events.at(-1).type, 'callback.completed');
    assert.equal(events.at(-1).data.outcome, 'connected');
    for (const leg of ['rep', 'customer']) {
      const types = events.filter((e) => e.data?.leg === leg).map((e) => e.type);
      assert.ok(types.includes('call.initiated') && types.includes('call.connected') && types.includes('call.completed'), `${leg}: ${types}`);
    }
    const paged = client.callbacks.events(cb.id, { limit: 3 });
    assert.ok(paged instanceof PagePromise);
    const pages = [];
    for await (const page of (await paged).iterPages()) pages.push(page.data.length);
    assert.ok(pages.length >= 3 && pages.every((n, i) => n === 3 || i === pages.length - 1), `pages ${pages}`);
    assert.deepEqual(
      (await allEvents(client, cb.id, { limit: 3 })).map((e) => e.id),
      events.map((e) => e.id),
    );
    assert.deepEqual(
      (await allEvents(client, cb.id, { after: 2 })).map((e) => e.sequence),
      events.slice(2).map((e) => e.sequence),
    );
  });

  test('a customer who declines: the callback fails', async () => {
    const cb = await client.callbacks.create({ customer: { number: numbers.reject }, rep_number: numbers.echo });
    const done = await client.callbacks.wait(cb.id, { timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(done.status, 'failed');
    assert.equal(done.attempts[0].outcome, 'customer_rejected');
    assert.equal(done.attempts[0].customer.sip_code, 603);
    const events = await allEvents(client, cb.id);
    assertSequences(events, 'events');
    assert.equal(events.at(-1).type, 'callback.failed');
    assert.ok(events.some((e) => e.type === 'call.missed' && e.data.leg === 'customer'));
  });

  test('a team, its callbacks listed page by page, canceled', async () => {
    const teamId = unique('js');
    const team = await client.teams.create({
      id: teamId,
      name: 'JS team',
      reps: [{ number: numbers.echo, name: 'Echo' }],
      window: { time_zone: 'UTC', hours: { 'mon-sun': ['00:00-24:00'] } },
      retry: { max_attempts: 2, intervals: ['1m'] },
    });
    assert.equal(team.id, teamId);
    assert.equal(team.strategy, 'sequential');
    assert.deepEqual(team.reps, [{ number: numbers.echo, name: 'Echo' }]);
    assert.equal((await client.teams.get(teamId)).name, 'JS team');
    assert.ok((await client.teams.list()).data.some((t) => t.id === teamId));
    const updated = await client.teams.update(teamId, { name: 'JS team 2', strategy: 'round_robin' });
    assert.equal(updated.name, 'JS team 2');
    assert.equal(updated.strategy, 'round_robin');

    const created = [];
    for (let i = 0; i < 5; i++) {
      const cb = await client.callbacks.create({
        customer: { number: numbers.hangup },
        team: teamId,
        scheduled_at: tomorrow(i),
        metadata: { i: String(i) },
      });
      assert.equal(cb.status, 'scheduled');
      assert.equal(cb.team, teamId);
      created.push(cb.id);
    }
    const newestFirst = [...created].reverse();

    const first = await client.callbacks.list({ team: teamId, limit: 2 });
    assert.deepEqual(first.data.map((c) => c.id), newestFirst.slice(0, 2));
    assert.equal(first.has_more, true);
    assert.ok(first.hasNextPage());
    const second = await first.getNextPage();
    assert.deepEqual(second.data.map((c) => c.id), newestFirst.slice(2, 4));

    const seen = [];
    for await (const cb of client.callbacks.list({ team: teamId, limit: 2 })) seen.push(cb.id);
    assert.deepEqual(seen, newestFirst);
    const sizes = [];
    for await (const page of first.iterPages()) sizes.push(page.data.length);
    assert.deepEqual(sizes, [2, 2, 1]);
    const after = [];
    for await (const cb of client.callbacks.list({ team: teamId, limit: 2, starting_after: newestFirst[1] })) after.push(cb.id);
    assert.deepEqual(after, newestFirst.slice(2));
    assert.equal((await client.callbacks.list({ team: teamId, status: 'scheduled', created_gte: new Date(Date.now() - 3600_000) })).data.length, 5);
    assert.equal((await client.callbacks.list({ team: teamId, status: 'completed' })).data.length, 0);

    // A team that pending callbacks name cannot go.
    await assert.rejects(client.teams.delete(teamId), ConflictError);

    for (const id of created) {
      const canceled = await client.callbacks.cancel(id);
      assert.equal(canceled.status, 'canceled');
    }
    await assert.rejects(client.callbacks.cancel(created[0]), (err) => err instanceof ConflictError && err.status === 409);
    const events = await allEvents(client, created[0]);
    assert.deepEqual(events.map((e) => e.type), ['callback.scheduled', 'callback.canceled']);

    await client.teams.delete(teamId);
    await assert.rejects(client.teams.get(teamId), NotFoundError);
  });

  test('errors carry the problem: status, type, code, title, detail, field, reason', async () => {
    await assert.rejects(
      client.callbacks.create({ customer: { number: '+1 555 000' }, rep_number: numbers.echo }),
      (err) => {
        assert.ok(err instanceof ValidationError && err instanceof BadRequestError && err instanceof ApiError);
        assert.equal(err.status, 422);
        assert.equal(err.type, 'urn:callbackd:problem:validation');
        assert.equal(err.code, 'validation');
        assert.equal(err.field, 'customer.number');
        assert.equal(err.reason, 'invalid_number');
        assert.ok(err.title && err.detail);
        assert.equal(err.problem.field, 'customer.number');
        assert.equal(err.method, 'POST');
        assert.match(err.message, /422 validation: customer\.number: .+ \(invalid_number\)/);
        return true;
      },
    );
    await assert.rejects(
      client.callbacks.create({ customer: { number: '+19005550123' }, rep_number: numbers.echo }),
      (err) => err instanceof DestinationNotAllowedError && err instanceof PermissionDeniedError && err.status === 403 && err.code === 'premium-rate',
    );
    await assert.rejects(
      client.callbacks.create({ customer: { number: numbers.hangup }, rep_number: numbers.echo, scheduled_at: new Date(Date.now() + 400 * 86400_000) }),
      (err) => err instanceof ValidationError && err.field === 'scheduled_at' && err.reason === 'invalid_time',
    );
    await assert.rejects(
      client.callbacks.create({ customer: { number: numbers.hangup }, team: 'no-such-team' }),
      (err) => err instanceof ApiError && err.code === 'unknown-team' && err.field === 'team',
    );
    await assert.rejects(client.callbacks.get('cb_0000000000000000000000000a'), (err) => err instanceof NotFoundError && err.code === 'not-found');
    await assert.rejects(
      client.request('GET', '/v1/callbacks', { query: { foo: 1 } }),
      (err) => err instanceof BadRequestError && err.code === 'unknown-field' && err.field === 'foo',
    );
    const stranger = new Client({ baseUrl: server.url, apiKey: 'cbk_not_a_key' });
    await assert.rejects(stranger.callbacks.list(), (err) => err instanceof AuthenticationError && err.status === 401);
  });

  test('an Idempotency-Key makes a repeat return the first callback', async () => {
    const key = `js-${randomUUID()}`;
    const body = { customer: { number: numbers.hangup }, rep_number: numbers.echo, scheduled_at: tomorrow(7) };
    const a = await client.callbacks.create(body, { idempotencyKey: key });
    const b = await client.callbacks.create(body, { idempotencyKey: key });
    assert.equal(b.id, a.id);
    assert.deepEqual(b, a);
    await assert.rejects(
      client.callbacks.create({ ...body, metadata: { other: 'body' } }, { idempotencyKey: key }),
      (err) => err instanceof IdempotencyMismatchError && err instanceof ValidationError && err.status === 422 && err.field === 'Idempotency-Key',
    );
    // Without a key of the caller's, each create gets its own.
    const c = await client.callbacks.create(body);
    const d = await client.callbacks.create(body);
    assert.notEqual(c.id, d.id);
    assert.notEqual(c.id, a.id);
    for (const id of [a.id, c.id, d.id]) await client.callbacks.cancel(id);
    // A repeated cancel with the same key answers the first response again.
    const e = await client.callbacks.create(body);
    const k2 = `js-${randomUUID()}`;
    const first = await client.callbacks.cancel(e.id, { idempotencyKey: k2 });
    const again = await client.callbacks.cancel(e.id, { idempotencyKey: k2 });
    assert.deepEqual(again, first);
  });

  test('webhooks: every delivery verifies, events arrive in sequence order', async () => {
    const ep = await client.webhooks.create({ url: `${receiver.url}/hooks`, description: 'js client test' });
    assert.match(ep.id, /^we_/);
    assert.match(ep.secret, /^whsec_/);
    assert.equal(ep.enabled, true);
    assert.deepEqual(ep.event_types, []);
    assert.equal((await client.webhooks.get(ep.id)).secret, undefined);
    assert.ok((await client.webhooks.list()).data.some((w) => w.id === ep.id));
    assert.equal(await client.webhooks.secret(ep.id), ep.secret);
    const ownSecret = await client.webhooks.callbackSecret();
    assert.match(ownSecret, /^whsec_/);

    const ping = await client.webhooks.test(ep.id);
    assert.equal(ping.event_type, 'ping');

    const cb = await client.callbacks.create({
      customer: { number: numbers.hangup },
      rep_number: numbers.echo,
      webhook_url: `${receiver.url}/own`,
    });
    const bodyOf = (d) => JSON.parse(d.body.toString('utf8'));
    const forCb = (path) => receiver.deliveries.filter((d) => d.path === path && bodyOf(d).data?.callback?.id === cb.id);
    const finished = (path) => forCb(path).some((d) => bodyOf(d).type === 'callback.completed');
    await receiver.waitFor(() => finished('/hooks') && finished('/own'), 40_000, 'callback.completed on both targets');

    // Every delivery to the endpoint verifies with its secret, to the
    // callback's own webhook_url with the server's.
    for (const d of receiver.deliveries.filter((x) => x.path === '/hooks')) {
      const event = verify(d.body, d.headers, ep.secret);
      assert.equal(event.id, d.headers['webhook-id']);
    }
    for (const d of receiver.deliveries.filter((x) => x.path === '/own')) verify(d.body, d.headers, ownSecret);
    assert.throws(() => verify(forCb('/own')[0].body, forCb('/own')[0].headers, ep.secret), { code: 'no_matching_signature' });

    const pinged = receiver.deliveries.find((d) => d.path === '/hooks' && bodyOf(d).type === 'ping');
    assert.ok(pinged, 'the ping arrived');
    assert.equal(bodyOf(pinged).data.details.webhook_id, ep.id);

    // In sequence order, without gaps, the same events as the log.
    const log = await allEvents(client, cb.id);
    for (const path of ['/hooks', '/own']) {
      const got = forCb(path).map((d) => verify(d.body, d.headers, path === '/hooks' ? ep.secret : ownSecret));
      assertSequences(got, path);
      assert.deepEqual(got.map((e) => [e.id, e.type]), log.map((e) => [e.id, e.type]));
      assert.equal(got.at(-1).data.callback.status, 'completed');
    }

    // The endpoint's deliveries, page by page.
    const ids = new Set();
    let completed;
    for await (const d of client.webhooks.deliveries(ep.id, { limit: 3 })) {
      ids.add(d.id);
      if (d.callback_id === cb.id && d.event_type === 'callback.completed') completed = d;
    }
    assert.ok(ids.size >= log.length + 1);
    assert.ok(completed, 'the callback.completed delivery is listed');
    assert.equal(completed.status, 'succeeded');
    assert.equal(completed.attempts[0].status_code, 204);

    // Sent again by hand: the same event ID.
    const before = receiver.deliveries.length;
    const again = await client.webhooks.retryDelivery(ep.id, completed.id);
    assert.equal(again.id, completed.id);
    await receiver.waitFor((ds) => ds.slice(before).some((d) => d.headers['webhook-id'] === completed.event_id), 20_000, 'the redelivery');

    // A rotation: the old and new secrets both sign for the overlap.
    const rotated = await client.webhooks.rotateSecret(ep.id, { overlap: '1h' });
    assert.match(rotated, /^whsec_/);
    assert.notEqual(rotated, ep.secret);
    assert.equal(await client.webhooks.secret(ep.id), rotated);
    const mark = receiver.deliveries.length;
    await client.webhooks.test(ep.id);
    const [rotPing] = await receiver
      .waitFor((ds) => ds.slice(mark).some((d) => d.path === '/hooks' && bodyOf(d).type === 'ping'), 20_000, 'the second ping')
      .then((ds) => ds.slice(mark).filter((d) => d.path === '/hooks' && bodyOf(d).type === 'ping'));
    assert.equal(rotPing.headers['webhook-signature'].split(' ').length, 2);
    verify(rotPing.body, rotPing.headers, rotated);
    verify(rotPing.body, rotPing.headers, ep.secret);

    const disabled = await client.webhooks.update(ep.id, { enabled: false });
    assert.equal(disabled.enabled, false);
    await client.webhooks.delete(ep.id);
    await assert.rejects(client.webhooks.get(ep.id), NotFoundError);
  });

  test("a callback's own webhook_url deliveries: listed page by page, retried", async () => {
    const ownSecret = await client.webhooks.callbackSecret();
    const own = `${receiver.url}/own-deliveries`;
    // An endpoint gets the same event: its delivery is not the callback's.
    const ep = await client.webhooks.create({ url: `${receiver.url}/endpoint-deliveries`, event_types: ['callback.failed'] });
    // The customer declines: the callback fails at once, not retried.
    const cb = await client.callbacks.create({ customer: { number: numbers.reject }, rep_number: numbers.echo, webhook_url: own });
    const mine = () => receiver.deliveries.filter((d) => d.path === '/own-deliveries');
    await receiver.waitFor(() => mine().length > 0, 30_000, 'a delivery to the webhook_url');
    assert.equal((await client.callbacks.wait(cb.id, { timeoutMs: 30_000, intervalMs: 250 })).status, 'failed');
    const log = await allEvents(client, cb.id);
    await receiver.waitFor(() => new Set(mine().map((d) => d.headers['webhook-id'])).size >= log.length, 20_000, 'every event at the webhook_url');

    // Listed once each has been answered.
    const listAll = async (params) => {
      const out = [];
      for await (const d of client.callbacks.deliveries(cb.id, params)) out.push(d);
      return out;
    };
    const ds = await eventually(
      async () => {
        const got = (await client.callbacks.deliveries(cb.id, { limit: 100 })).data;
        return got.length === log.length && got.every((d) => d.status === 'succeeded') && got;
      },
      10_000,
      "the callback's deliveries to succeed",
    );
    for (const d of ds) {
      assert.match(d.id, /^dlv_/);
      assert.equal(d.callback_id, cb.id);
      assert.equal(d.url, own);
      assert.equal(d.webhook_id, undefined);
      assert.ok(d.attempts.length > 0);
      const code = d.attempts.at(-1).status_code;
      assert.ok(code >= 200 && code < 300, `status_code ${code}`);
    }
    // Newest first, one per event of the log.
    const newestFirst = [...log].reverse();
    assert.deepEqual(
      ds.map((d) => [d.sequence, d.event_id, d.event_type]),
      newestFirst.map((e) => [e.sequence, e.id, e.type]),
    );
    assert.deepEqual(new Set(ds.map((d) => d.event_id)), new Set(mine().map((d) => d.headers['webhook-id'])));

    // Page by page, and from a cursor.
    const first = await client.callbacks.deliveries(cb.id, { limit: 2 });
    assert.ok(first instanceof Page);
    assert.deepEqual(first.data.map((d) => d.id), ds.slice(0, 2).map((d) => d.id));
    assert.equal(first.has_more, true);
    assert.deepEqual((await listAll({ limit: 2 })).map((d) => d.id), ds.map((d) => d.id));
    const rest = await client.callbacks.deliveries(cb.id, { starting_after: ds[0].id, limit: 100 });
    assert.deepEqual(rest.data.map((d) => d.id), ds.slice(1).map((d) => d.id));
    assert.equal(rest.has_more, false);

    // Sent again: the same event, the same webhook-id.
    const [last] = ds;
    assert.equal(last.event_type, 'callback.failed');
    const before = mine().length;
    const again = await client.callbacks.retryDelivery(cb.id, last.id);
    assert.deepEqual([again.id, again.event_id, again.callback_id, again.url, again.status], [last.id, last.event_id, cb.id, own, 'pending']);
    await receiver.waitFor(() => mine().slice(before).some((d) => d.headers['webhook-id'] === last.event_id), 20_000, 'the redelivery');
    const resent = mine().slice(before).find((d) => d.headers['webhook-id'] === last.event_id);
    const body = verify(resent.body, resent.headers, ownSecret);
    assert.deepEqual([body.id, body.type], [last.event_id, 'callback.failed']);
    await eventually(
      async () => {
        const d = (await listAll({ limit: 100 })).find((x) => x.id === last.id);
        return d.status === 'succeeded' && d.attempts.length === last.attempts.length + 1;
      },
      10_000,
      "the retry's attempt to be listed",
    );

    // Another callback's delivery, or an endpoint's, is not this one's.
    const epDelivery = (await client.webhooks.deliveries(ep.id, { limit: 100 })).data.find((d) => d.callback_id === cb.id);
    assert.ok(epDelivery, "the endpoint's delivery");
    assert.ok(!(await listAll()).some((d) => d.id === epDelivery.id));
    await assert.rejects(client.callbacks.retryDelivery(cb.id, epDelivery.id), NotFoundError);
    const other = await client.callbacks.create({ customer: { number: numbers.hangup }, rep_number: numbers.echo, scheduled_at: tomorrow(11) });
    const none = await client.callbacks.deliveries(other.id);
    assert.deepEqual([none.data, none.has_more], [[], false]);
    await assert.rejects(client.callbacks.retryDelivery(other.id, last.id), NotFoundError);
    await client.callbacks.cancel(other.id);
    await client.webhooks.delete(ep.id);

    // A key that may read callbacks lists them; retrying needs callbacks:write.
    const key = await client.apiKeys.create({ name: unique('js-deliveries'), scopes: ['callbacks:read'] });
    const reader = new Client({ baseUrl: server.url, apiKey: key.secret });
    assert.equal((await reader.callbacks.deliveries(cb.id, { limit: 100 })).data.length, ds.length);
    await assert.rejects(reader.callbacks.retryDelivery(cb.id, last.id), PermissionDeniedError);
    await client.apiKeys.revoke(key.id);
  });

  test("an unknown callback's deliveries: NotFoundError", async () => {
    const unknown = 'cb_0000000000000000000000000b';
    await assert.rejects(client.callbacks.deliveries(unknown), (err) => err instanceof NotFoundError && err.status === 404 && err.code === 'not-found');
    await assert.rejects(client.callbacks.retryDelivery(unknown, 'dlv_0000000000000000000000000b'), NotFoundError);
  });

  test('API keys: create with a scope, use, revoke', async () => {
    const key = await client.apiKeys.create({ name: unique('js-reader'), scopes: ['callbacks:read'] });
    assert.match(key.id, /^key_/);
    assert.match(key.secret, /^cbk_/);
    assert.deepEqual(key.scopes, ['callbacks:read']);
    const listed = (await client.apiKeys.list()).data.find((k) => k.id === key.id);
    assert.ok(listed && listed.secret === undefined && key.secret.startsWith(listed.prefix));

    const reader = new Client({ baseUrl: server.url, apiKey: key.secret });
    assert.ok(Array.isArray((await reader.callbacks.list({ limit: 1 })).data));
    await assert.rejects(
      reader.callbacks.create({ customer: { number: numbers.hangup }, rep_number: numbers.echo, scheduled_at: tomorrow() }),
      (err) => err instanceof PermissionDeniedError && err.status === 403 && err.code === 'forbidden',
    );
    const revoked = await client.apiKeys.revoke(key.id);
    assert.ok(revoked.revoked_at);
    await assert.rejects(reader.callbacks.list(), AuthenticationError);
  });

  test('REST hooks: subscribe, samples, unsubscribe', async () => {
    const sub = await client.hooks.subscribe({ target_url: `${receiver.url}/zap`, event: 'callback.canceled' });
    assert.match(sub.id, /^we_/);
    assert.match(sub.secret, /^whsec_/);
    assert.equal(sub.event, 'callback.canceled');
    const ep = (await client.webhooks.list()).data.find((w) => w.id === sub.id);
    assert.equal(ep.source, 'rest_hook');
    assert.deepEqual(ep.event_types, ['callback.canceled']);

    const cb = await client.callbacks.create({ customer: { number: numbers.hangup }, rep_number: numbers.echo, scheduled_at: tomorrow(3) });
    await client.callbacks.cancel(cb.id);
    const [got] = await receiver
      .waitFor((ds) => ds.some((d) => d.path === '/zap' && d.body.includes(cb.id)), 20_000, 'the canceled event')
      .then((ds) => ds.filter((d) => d.path === '/zap' && d.body.includes(cb.id)));
    const event = verify(got.body, got.headers, sub.secret);
    assert.equal(event.type, 'callback.canceled');

    const samples = await client.hooks.samples({ event: 'callback.canceled', limit: 100 });
    assert.ok(samples.data.some((e) => e.data.callback.id === cb.id));
    assert.ok(samples.data.every((e) => e.type === 'callback.canceled'));
    await client.hooks.unsubscribe(sub.id);
    await assert.rejects(client.hooks.unsubscribe(sub.id), NotFoundError);
  });

  test('triggers: create, fire (each auth mode), dedup, rotate, delete', async () => {
    const trg = await client.triggers.create({
      name: unique('js hot leads'),
      condition: 'payload.score >= 80',
      mapping: {
        customer_number: 'payload.phone',
        customer_name: "payload.?name.orValue('')",
        rep_number: `'${numbers.echo}'`,
        delay: "'2h'",
        metadata: { source: "'js test'", score: 'string(int(payload.score))' },
      },
      dedup: '1h',
    });
    assert.match(trg.id, /^trg_/);
    assert.match(trg.secret, /^tsec_/);
    assert.equal(trg.url, `/v1/hooks/${trg.id}`);
    assert.equal((await client.triggers.get(trg.id)).secret, undefined);
    assert.ok((await client.triggers.list()).data.some((t) => t.id === trg.id));

    // The application needs no API key, only the trigger's secret.
    const app = new Client({ baseUrl: server.url, apiKey: '' });
    const hit = await app.triggers.fire(trg, { phone: numbers.hangup, name: 'Ann', score: 91 });
    assert.equal(hit.matched, true);
    assert.equal(hit.callback.status, 'scheduled');
    assert.deepEqual(hit.callback.metadata, { source: 'js test', score: '91' });
    const dup = await app.triggers.fire(trg.id, { phone: numbers.hangup, score: 95 }, { secret: trg.secret });
    assert.deepEqual([dup.matched, dup.duplicate, dup.callback_id], [true, true, hit.callback_id]);
    const miss = await app.triggers.fire(trg, { phone: numbers.hangup, score: 10 });
    assert.equal(miss.matched, false);
    assert.ok(miss.reason);
    await assert.rejects(
      app.triggers.fire(trg, { score: 99 }),
      (err) => err instanceof ValidationError && err.field === 'mapping.customer_number',
    );
    await assert.rejects(app.triggers.fire(trg.id, { score: 99 }, { secret: 'tsec_wrong' }), AuthenticationError);

    const hmac = await client.triggers.update(trg.id, { auth: { mode: 'hmac_sha256' } });
    assert.equal(hmac.auth.mode, 'hmac_sha256');
    const secret = await client.triggers.rotateSecret(trg.id);
    assert.notEqual(secret, trg.secret);
    const viaHmac = await app.triggers.fire({ ...hmac, secret }, JSON.stringify({ phone: '+15550000001', score: 80 }));
    assert.equal(viaHmac.matched, true);
    await assert.rejects(app.triggers.fire({ ...hmac, secret: trg.secret }, { phone: '+15550000001', score: 80 }), AuthenticationError);
    await client.triggers.update(trg.id, { auth: { mode: 'token_query' } });
    const viaQuery = await app.triggers.fire(trg.id, { phone: '+15550000009', score: 85 }, { secret, authMode: 'token_query' });
    assert.equal(viaQuery.matched, true);

    // With an overlap the secret just replaced works on beside the new one
    // (the same number again: duplicates, but authenticated); the one
    // before it does not.
    const fireWith = (s) => app.triggers.fire(trg.id, { phone: '+15550000009', score: 85 }, { secret: s, authMode: 'token_query' });
    const overlapped = await client.triggers.rotateSecret(trg.id, { overlap: '1h' });
    assert.match(overlapped, /^tsec_/);
    assert.notEqual(overlapped, secret);
    assert.equal((await fireWith(secret)).matched, true);
    assert.equal((await fireWith(overlapped)).matched, true);
    await assert.rejects(fireWith(trg.secret), AuthenticationError);
    // With none the one replaced stops at once, and the one the overlap kept goes too.
    const latest = await client.triggers.rotateSecret(trg.id);
    await assert.rejects(fireWith(overlapped), AuthenticationError);
    await assert.rejects(fireWith(secret), AuthenticationError);
    assert.equal((await fireWith(latest)).matched, true);
    await assert.rejects(
      client.triggers.rotateSecret(trg.id, { overlap: '200h' }),
      (err) => err instanceof ValidationError && err.status === 422 && err.field === 'overlap',
    );
    assert.equal((await fireWith(latest)).matched, true);

    for (const id of [hit.callback_id, viaHmac.callback_id, viaQuery.callback_id]) await client.callbacks.cancel(id);
    await client.triggers.delete(trg.id);
    await assert.rejects(client.triggers.get(trg.id), NotFoundError);
  });
});
