// The callbackd API client.

import { WaitTimeoutError } from './errors.js';
import { paginate, Page, PagePromise } from './pagination.js';
import { Transport } from './transport.js';
import { triggerSignature } from './webhooks.js';

/** The states after which a callback changes no more. */
export const FINAL_STATUSES = Object.freeze(['completed', 'failed', 'canceled']);

/** A path segment, escaped. */
function seg(value, what = 'an ID') {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return encodeURIComponent(value);
}

/** The per-request options a method passes on to the transport. */
function pass(options) {
  if (!options) return {};
  const { idempotencyKey, signal, timeoutMs, maxRetries, headers } = options;
  return { idempotencyKey, signal, timeoutMs, maxRetries, headers };
}

/** The keys `pass` reads. */
const REQUEST_OPTION_KEYS = ['idempotencyKey', 'signal', 'timeoutMs', 'maxRetries', 'headers'];

function ok(res) {
  return res.data;
}

function delay(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

class Resource {
  /** @param {Transport} transport */
  constructor(transport) {
    this._t = transport;
  }

  _req(method, path, options) {
    return this._t.request(method, path, options).then(ok);
  }

  /** A list the server answers whole, as one page. */
  _single(path, query, options) {
    return PagePromise.of(async () => {
      const body = await this._req('GET', path, { ...pass(options), query });
      return new Page(body, Array.isArray(body?.data) ? body.data : []);
    });
  }
}

/** `/v1/callbacks`: create, read, list, cancel, the event log, and the deliveries to a callback's own `webhook_url`. */
export class Callbacks extends Resource {
  /**
   * Asks for a callback to `params.customer` by `team` or by the one
   * `rep_number`, now or at `scheduled_at`. The answer is `scheduled`, or
   * `in_progress` when it was due now and dialled at once.
   */
  async create(params, options) {
    return this._req('POST', '/v1/callbacks', { ...pass(options), body: params });
  }

  /** One callback with its attempts (oldest first). */
  async get(id, options) {
    return this._req('GET', `/v1/callbacks/${seg(id, 'a callback ID')}`, pass(options));
  }

  /**
   * A page of callbacks, newest first; also an async iterable over every
   * callback of every page (following `starting_after` while `has_more`).
   */
  list(params = {}, options) {
    const { starting_after, ...filters } = params;
    return paginate(
      (after) => this._req('GET', '/v1/callbacks', { ...pass(options), query: { ...filters, starting_after: after } }),
      (last) => last.id,
      starting_after,
    );
  }

  /** Cancels a callback; a call in progress is hung up. A final callback throws ConflictError. */
  async cancel(id, options) {
    return this._req('POST', `/v1/callbacks/${seg(id, 'a callback ID')}/cancel`, pass(options));
  }

  /**
   * A page of the callback's event log, in sequence order, after the
   * sequence number `after`; also an async iterable over the whole log.
   */
  events(id, params = {}, options) {
    const { after, limit } = params;
    return paginate(
      (a) => this._req('GET', `/v1/callbacks/${seg(id, 'a callback ID')}/events`, { ...pass(options), query: { after: a, limit } }),
      (last) => last.sequence,
      after,
    );
  }

  /**
   * A page of the deliveries of the callback's events to its own
   * `webhook_url`, newest first, each with its attempts (no `webhook_id`:
   * there is no endpoint); also an async iterable over all of them.
   */
  deliveries(id, params = {}, options) {
    const { limit, starting_after } = params;
    return paginate(
      (after) => this._req('GET', `/v1/callbacks/${seg(id, 'a callback ID')}/deliveries`, { ...pass(options), query: { limit, starting_after: after } }),
      (last) => last.id,
      starting_after,
    );
  }

  /** Sends one of the callback's `webhook_url` deliveries again, now, with the same event ID; another's throws NotFoundError. */
  async retryDelivery(id, deliveryId, options) {
    const path = `/v1/callbacks/${seg(id, 'a callback ID')}/deliveries/${seg(deliveryId, 'a delivery ID')}/retry`;
    return this._req('POST', path, pass(options));
  }

  /**
   * Polls the callback until it is final (or its status is one of
   * `until`) and resolves to it; rejects with WaitTimeoutError after
   * `timeoutMs` (default 120 s).
   */
  async wait(id, { until, timeoutMs = 120_000, intervalMs = 500, signal } = {}) {
    const wanted = until === undefined ? FINAL_STATUSES : [].concat(until);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const cb = await this.get(id, { signal });
      if (wanted.includes(cb.status)) return cb;
      const left = deadline - Date.now();
      if (left <= 0) {
        const err = new WaitTimeoutError(`callback ${id} is still ${cb.status} after ${timeoutMs} ms`);
        err.callback = cb;
        throw err;
      }
      await delay(Math.min(intervalMs, left), signal);
    }
  }
}

/** `/v1/teams`: reps, strategy, business hours, retry policy. */
export class Teams extends Resource {
  /** Creates a team; without `id` the server makes one (`team_...`). */
  async create(params, options) {
    return this._req('POST', '/v1/teams', { ...pass(options), body: params });
  }

  async get(id, options) {
    return this._req('GET', `/v1/teams/${seg(id, 'a team ID')}`, pass(options));
  }

  /** Every team, by ID (one page). */
  list(options) {
    return this._single('/v1/teams', undefined, options);
  }

  /** Replaces the fields given (a window or retry policy whole); a field given as null is reset to its default. */
  async update(id, changes, options) {
    return this._req('PATCH', `/v1/teams/${seg(id, 'a team ID')}`, { ...pass(options), body: changes });
  }

  /** Deletes a team; one that pending callbacks name throws ConflictError. */
  async delete(id, options) {
    await this._req('DELETE', `/v1/teams/${seg(id, 'a team ID')}`, pass(options));
  }
}

/** `/v1/webhooks`: endpoints, their secrets and deliveries. */
export class Webhooks extends Resource {
  /** Subscribes `url` to callback events (`event_types`, or every type). The answer's `secret` verifies the deliveries. */
  async create(params, options) {
    return this._req('POST', '/v1/webhooks', { ...pass(options), body: params });
  }

  async get(id, options) {
    return this._req('GET', `/v1/webhooks/${seg(id, 'a webhook ID')}`, pass(options));
  }

  /** Every endpoint, oldest first (one page), without secrets. */
  list(options) {
    return this._single('/v1/webhooks', undefined, options);
  }

  /** Replaces the fields given (`url`, `event_types`, `description`, `enabled`); null resets one to its default. */
  async update(id, changes, options) {
    return this._req('PATCH', `/v1/webhooks/${seg(id, 'a webhook ID')}`, { ...pass(options), body: changes });
  }

  /** Deletes an endpoint; its pending deliveries are given up. */
  async delete(id, options) {
    await this._req('DELETE', `/v1/webhooks/${seg(id, 'a webhook ID')}`, pass(options));
  }

  /** The endpoint's current signing secret (`whsec_...`). */
  async secret(id, options) {
    return (await this._req('GET', `/v1/webhooks/${seg(id, 'a webhook ID')}/secret`, pass(options))).secret;
  }

  /**
   * Makes a new current secret and resolves to it; the old ones go on
   * signing beside it for `overlap` (a duration such as `"1h"`; the
   * server's default is 24h, `"0s"` stops them at once).
   */
  async rotateSecret(id, params = {}, options) {
    const body = params.overlap !== undefined ? { overlap: params.overlap } : undefined;
    const path = `/v1/webhooks/${seg(id, 'a webhook ID')}/rotate-secret`;
    return (await this._req('POST', path, { ...pass(options), body })).secret;
  }

  /** A page of the endpoint's deliveries, newest first, each with its attempts; also an async iterable over all of them. */
  deliveries(id, params = {}, options) {
    const { limit, starting_after } = params;
    return paginate(
      (after) => this._req('GET', `/v1/webhooks/${seg(id, 'a webhook ID')}/deliveries`, { ...pass(options), query: { limit, starting_after: after } }),
      (last) => last.id,
      starting_after,
    );
  }

  /** Sends a succeeded or failed delivery again, now, with the same event ID. */
  async retryDelivery(id, deliveryId, options) {
    const path = `/v1/webhooks/${seg(id, 'a webhook ID')}/deliveries/${seg(deliveryId, 'a delivery ID')}/retry`;
    return this._req('POST', path, pass(options));
  }

  /** Queues a `ping` event to this endpoint alone; resolves to its delivery. */
  async test(id, options) {
    return this._req('POST', `/v1/webhooks/${seg(id, 'a webhook ID')}/test`, pass(options));
  }

  /** The secret that signs deliveries to callbacks' own `webhook_url`. */
  async callbackSecret(options) {
    return (await this._req('GET', '/v1/webhook-secret', pass(options))).secret;
  }
}

/** `/v1/api-keys`. */
export class ApiKeys extends Resource {
  /** Creates a key; the answer holds its `secret`, this once. */
  async create(params, options) {
    return this._req('POST', '/v1/api-keys', { ...pass(options), body: params });
  }

  /** Every key (one page), without secrets. */
  list(options) {
    return this._single('/v1/api-keys', undefined, options);
  }

  /** Revokes a key; it stops working at once. */
  async revoke(id, options) {
    return this._req('POST', `/v1/api-keys/${seg(id, 'an API key ID')}/revoke`, pass(options));
  }
}

/** REST Hooks (`/v1/hooks/subscriptions`, `/v1/hooks/samples`), for Zapier, n8n, Make. */
export class Hooks extends Resource {
  /** Subscribes `target_url` to one `event` type; resolves to the subscription with its `id` and `secret`. */
  async subscribe(params, options) {
    return this._req('POST', '/v1/hooks/subscriptions', { ...pass(options), body: params });
  }

  /** Removes a subscription. */
  async unsubscribe(id, options) {
    await this._req('DELETE', `/v1/hooks/subscriptions/${seg(id, 'a subscription ID')}`, pass(options));
  }

  /** The newest events of one type as webhook bodies (`limit`: 10 by default, up to 100), one page. */
  samples(params, options) {
    const { event, limit } = params || {};
    return this._single('/v1/hooks/samples', { event, limit }, options);
  }
}

const AUTH_MODES = ['token_header', 'token_query', 'hmac_sha256'];

/** `/v1/triggers`, and sending events to a trigger's `/v1/hooks/{trigger_id}`. */
export class Triggers extends Resource {
  /** Creates a trigger; the answer holds its `secret` (shown here and by `rotateSecret` only). */
  async create(params, options) {
    return this._req('POST', '/v1/triggers', { ...pass(options), body: params });
  }

  async get(id, options) {
    return this._req('GET', `/v1/triggers/${seg(id, 'a trigger ID')}`, pass(options));
  }

  /** Every trigger, oldest first (one page), without secrets. */
  list(options) {
    return this._single('/v1/triggers', undefined, options);
  }

  /** Replaces the fields given, whole; null resets one to its default. */
  async update(id, changes, options) {
    return this._req('PATCH', `/v1/triggers/${seg(id, 'a trigger ID')}`, { ...pass(options), body: changes });
  }

  /** Deletes the trigger; its URL answers 404 from then on. */
  async delete(id, options) {
    await this._req('DELETE', `/v1/triggers/${seg(id, 'a trigger ID')}`, pass(options));
  }

  /**
   * Gives the trigger a new secret and resolves to it. By default the
   * secret it replaces stops working at once; with `overlap` (a duration
   * such as `"1h"`, at most `"168h"`) it goes on authenticating events
   * beside the new one for that long. Only the secret just replaced is
   * kept: a second rotation drops the one kept by the first.
   *
   * Before `params`, the second argument was the request options: an
   * object with request-option keys (`idempotencyKey`, `signal`, ...) and
   * no third argument is still taken as the options.
   */
  async rotateSecret(id, params = {}, options) {
    if (options === undefined && params && REQUEST_OPTION_KEYS.some((k) => k in params)) options = params;
    const body = params?.overlap !== undefined ? { overlap: params.overlap } : undefined;
    const path = `/v1/triggers/${seg(id, 'a trigger ID')}/rotate-secret`;
    return (await this._req('POST', path, { ...pass(options), body })).secret;
  }

  /**
   * Sends an event to a trigger, as the application would: `payload` (an
   * object, sent as JSON, or the raw JSON as a string or bytes) is
   * authenticated with the trigger's `secret` as `authMode` says
   * (`token_header`, the default: X-Callbackd-Token; `token_query`:
   * `?token=`; `hmac_sha256`: X-Callbackd-Signature). Given a Trigger
   * object, its ID, auth mode and (when it has it) secret are used. No API
   * key is sent. Resolves to the HookResult: `matched` with the new
   * `callback`, a `duplicate`, or not matched with the `reason`.
   */
  async fire(trigger, payload, options = {}) {
    let id = trigger;
    let { secret, authMode } = options;
    if (trigger && typeof trigger === 'object') {
      id = trigger.id;
      authMode = authMode || trigger.auth?.mode;
      secret = secret || trigger.secret;
    }
    if (!secret) throw new TypeError("the trigger's secret is required");
    const mode = authMode || 'token_header';
    if (!AUTH_MODES.includes(mode)) {
      throw new TypeError(`unknown authMode ${JSON.stringify(mode)}: ${AUTH_MODES.join(', ')}`);
    }
    const raw =
      typeof payload === 'string' || payload instanceof Uint8Array
        ? payload
        : JSON.stringify(payload, (k, v) => (v instanceof Date ? v.toISOString() : v));
    const headers = { ...(options.headers || {}) };
    let query;
    if (mode === 'token_header') headers['X-Callbackd-Token'] = secret;
    else if (mode === 'token_query') query = { token: secret };
    else headers['X-Callbackd-Signature'] = triggerSignature(secret, raw);
    return this._req('POST', `/v1/hooks/${seg(id, 'a trigger ID')}`, {
      ...pass(options),
      headers,
      query,
      rawBody: raw,
      auth: false,
    });
  }
}

/**
 * A client of one callbackd server.
 *
 *   const client = new Client({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'cbk_...' });
 *
 * `apiKey` defaults to `$CALLBACKD_API_KEY`. `timeoutMs` bounds each HTTP
 * attempt (default 30 s); `maxRetries` is how often a failed request is
 * tried again (default 2), waiting `backoffBaseMs` × 2^n (at most
 * `backoffMaxMs`, less random jitter) or as the server's Retry-After says
 * (up to `maxRetryAfterMs`).
 */
export class Client {
  constructor(options = {}) {
    const apiKey = options.apiKey !== undefined ? options.apiKey : process.env.CALLBACKD_API_KEY;
    this._transport = new Transport({ ...options, apiKey });
    this.callbacks = new Callbacks(this._transport);
    this.teams = new Teams(this._transport);
    this.webhooks = new Webhooks(this._transport);
    this.apiKeys = new ApiKeys(this._transport);
    this.hooks = new Hooks(this._transport);
    this.triggers = new Triggers(this._transport);
  }

  /** The API's base URL, without a trailing slash. */
  get baseUrl() {
    return this._transport.baseUrl;
  }

  /**
   * Sends any request to the API with the client's authentication,
   * retries and error mapping, and resolves to the decoded JSON (undefined
   * for an empty body). For routes this client has no method for yet.
   */
  request(method, path, { query, body, ...options } = {}) {
    return this._transport.request(method, path, { ...pass(options), query, body }).then(ok);
  }

  /** `GET /healthz`. */
  health(options) {
    return this._transport.request('GET', '/healthz', { ...pass(options), auth: false }).then(ok);
  }

  /** `GET /readyz`: the readiness checks; a 503 throws ServiceUnavailableError (after retries, as any 503). */
  ready(options) {
    return this._transport.request('GET', '/readyz', { ...pass(options), auth: false }).then(ok);
  }

  /** The server's OpenAPI 3.1 document. */
  openapi(options) {
    return this._transport.request('GET', '/v1/openapi.json', { ...pass(options), auth: false }).then(ok);
  }

  /** A consistent copy of the server's store, as bytes (admin). */
  backup(options) {
    return this._transport.request('GET', '/v1/backup', { ...pass(options), responseType: 'bytes' }).then(ok);
  }
}
