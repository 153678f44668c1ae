// Compiled (not run) by types.test.js when a TypeScript compiler is at hand:
// it uses the declarations the way an application would, and the lines
// marked @ts-expect-error must not compile.

import {
  ApiError,
  Client,
  DailyLimitError,
  Page,
  PagePromise,
  RateLimitError,
  ValidationError,
  WebhookVerificationError,
  sign,
  triggerSignature,
  verify,
  type Callback,
  type CallbackDetail,
  type CallbackEvent,
  type Delivery,
  type HookResult,
  type ProblemCode,
  type Team,
  type TriggerCreated,
  type TriggerRotateSecretParams,
  type WebhookCreated,
  type WebhookEvent,
} from '@callbackd/client';

export async function usage(): Promise<void> {
  const client = new Client({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'cbk_x', timeoutMs: 5000, maxRetries: 3 });
  const base: string = client.baseUrl;

  const cb: Callback = await client.callbacks.create(
    { customer: { number: '+15550000005', name: 'Ann' }, rep_number: '+15550000002', metadata: { order: '42' } },
    { idempotencyKey: 'order-42' },
  );
  await client.callbacks.create({ customer: { number: '2025550123', country: 'US' }, team: 'sales', scheduled_at: new Date() });
  // @ts-expect-error: a team or a rep_number, not both
  await client.callbacks.create({ customer: { number: '+15550000005' }, team: 'sales', rep_number: '+15550000002' });
  // @ts-expect-error: a team or a rep_number is needed
  await client.callbacks.create({ customer: { number: '+15550000005' } });
  // @ts-expect-error: not a status
  await client.callbacks.list({ status: 'done' });

  const detail: CallbackDetail = await client.callbacks.get(cb.id);
  const talk: number | undefined = detail.attempts[0]?.talk_seconds;
  const status: 'scheduled' | 'in_progress' | 'completed' | 'failed' | 'canceled' = detail.status;

  const pp: PagePromise<Callback> = client.callbacks.list({ team: 'sales', limit: 50, created_gte: new Date() });
  const page: Page<Callback> = await pp;
  const more: boolean = page.has_more && page.hasNextPage();
  const next: Page<Callback> | null = await page.getNextPage();
  for await (const c of client.callbacks.list()) {
    const id: string = c.id;
  }
  for await (const p of page.iterPages()) {
    const n: number = p.data.length;
  }

  for await (const ev of client.callbacks.events(cb.id, { after: 2, limit: 100 })) {
    const e: CallbackEvent = ev;
    if (ev.type === 'call.connected') {
      const leg: 'rep' | 'customer' = ev.data.leg;
      const code: number | undefined = ev.data.sip_code;
    } else if (ev.type === 'callback.scheduled') {
      const when: string = ev.data.next_attempt_at;
    }
  }
  const canceled: Callback = await client.callbacks.cancel(cb.id);
  const waited: CallbackDetail = await client.callbacks.wait(cb.id, { until: ['completed', 'failed'], timeoutMs: 1000 });

  const team: Team = await client.teams.create({
    id: 'sales',
    reps: [{ number: '+15550000002' }],
    strategy: 'round_robin',
    window: { time_zone: 'Europe/London', hours: { 'mon-fri': ['09:00-17:30'] }, closed: ['2026-12-25'] },
    retry: { max_attempts: 4, intervals: ['5m', '30m'] },
  });
  await client.teams.update('sales', { name: null, window: null, whisper: 'hello' });
  const teams: Team[] = (await client.teams.list()).data;
  const nothing: void = await client.teams.delete('sales');

  const ep: WebhookCreated = await client.webhooks.create({ url: 'https://example.com/h', event_types: ['callback.completed'] });
  // @ts-expect-error: not an event type
  await client.webhooks.create({ url: 'https://example.com/h', event_types: ['callback.done'] });
  const secret: string = ep.secret;
  const rotated: string = await client.webhooks.rotateSecret(ep.id, { overlap: '1h' });
  const current: string = await client.webhooks.secret(ep.id);
  const own: string = await client.webhooks.callbackSecret();
  for await (const d of client.webhooks.deliveries(ep.id, { limit: 10 })) {
    const dl: Delivery = d;
    const codes = d.attempts.map((a) => a.status_code);
  }
  const retried: Delivery = await client.webhooks.retryDelivery(ep.id, 'dlv_x');
  const ping: Delivery = await client.webhooks.test(ep.id);
  const ownPage: Page<Delivery> = await client.callbacks.deliveries(cb.id, { limit: 5, starting_after: 'dlv_x' });
  for await (const d of client.callbacks.deliveries(cb.id)) {
    const endpoint: string | undefined = d.webhook_id;
  }
  const resent: Delivery = await client.callbacks.retryDelivery(cb.id, 'dlv_x', { idempotencyKey: 'k' });
  // @ts-expect-error: the delivery's ID is required
  await client.callbacks.retryDelivery(cb.id);
  await client.webhooks.update(ep.id, { enabled: false, event_types: null });

  const key = await client.apiKeys.create({ name: 'reader', scopes: ['callbacks:read'] });
  const keySecret: string | undefined = key.secret;
  await client.apiKeys.revoke(key.id);

  const sub = await client.hooks.subscribe({ target_url: 'https://hooks.zapier.com/x', event: 'callback.completed' });
  const samples: WebhookEvent[] = (await client.hooks.samples({ event: 'callback.completed', limit: 5 })).data;
  await client.hooks.unsubscribe(sub.id);

  const trg: TriggerCreated = await client.triggers.create({
    name: 'hot leads',
    condition: 'payload.score >= 80',
    mapping: { customer_number: 'payload.phone', team: "'sales'", metadata: { source: "'web'" } },
    dedup: '24h',
    auth: { mode: 'hmac_sha256' },
  });
  const result: HookResult = await client.triggers.fire(trg, { phone: '+15550000005', score: 91 });
  await client.triggers.fire(trg.id, '{"score":1}', { secret: trg.secret, authMode: 'token_query' });
  // @ts-expect-error: not an auth mode
  await client.triggers.fire(trg.id, {}, { secret: 'x', authMode: 'basic' });
  const newSecret: string = await client.triggers.rotateSecret(trg.id);
  const overlapped: string = await client.triggers.rotateSecret(trg.id, { overlap: '1h' }, { idempotencyKey: 'k' });
  const rotateParams: TriggerRotateSecretParams = { overlap: null };
  await client.triggers.rotateSecret(trg.id, rotateParams);
  // @ts-expect-error: an overlap is a duration string
  await client.triggers.rotateSecret(trg.id, { overlap: 3600 });
  await client.triggers.update(trg.id, { enabled: false, condition: null });
  await client.triggers.delete(trg.id);

  const raw = await client.request<{ data: unknown[] }>('GET', '/v1/callbacks', { query: { limit: 1 } });
  const bytes: Uint8Array = await client.backup();
  const ready: 'ok' | 'unavailable' = (await client.ready()).status;

  try {
    await client.callbacks.get('cb_x', { signal: AbortSignal.timeout(1000) });
  } catch (err) {
    if (err instanceof ValidationError) {
      const f: string | undefined = err.field;
      const r: string | undefined = err.reason;
    }
    if (err instanceof RateLimitError && !(err instanceof DailyLimitError)) {
      const ms: number | undefined = err.retryAfterMs;
    }
    if (err instanceof ApiError) {
      const code: ProblemCode | (string & {}) = err.code;
      const s: number = err.status;
      const h: string | null = err.headers.get('retry-after');
    }
  }

  const body = new Uint8Array();
  try {
    const event: WebhookEvent = verify(body, { 'webhook-id': 'evt_x', 'webhook-signature': ['v1,a'] }, secret, { toleranceSeconds: 60 });
    verify('{}', new Headers(), secret, { now: new Date() });
    const t: string = event.type;
    const seq: number | undefined = event.sequence;
    const cbStatus = event.data.callback?.status;
  } catch (err) {
    if (err instanceof WebhookVerificationError) {
      const c: 'missing_headers' | 'invalid_timestamp' | 'timestamp_out_of_tolerance' | 'no_matching_signature' | 'invalid_secret' | 'invalid_payload' = err.code;
    }
  }
  const sig: string = sign('{}', secret, { id: 'evt_x', timestamp: 1614265330 });
  const tsig: string = triggerSignature('tsec_x', '{}');
  // @ts-expect-error: verify needs the raw body, not the parsed object
  verify({ test: 1 }, {}, secret);
}
