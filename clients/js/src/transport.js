// HTTP, retries and error mapping: the part of the client every resource
// uses. Node 18+ global fetch; no dependencies.

import { randomUUID } from 'node:crypto';
import { ApiConnectionError, ApiError, ApiTimeoutError, DailyLimitError, IdempotencyInFlightError, parseRetryAfter } from './errors.js';
import { VERSION } from './version.js';

/**
 * Methods that may be sent again without harm. PATCH is one here: the API's
 * updates replace the fields given, so a repeat changes nothing.
 */
export const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH']);

/** A fresh Idempotency-Key (a random UUID). */
export function newIdempotencyKey() {
  return randomUUID();
}

const TIMED_OUT = Symbol('callbackd timeout');

/** Walks an error's causes (and an AggregateError's errors) for a system error code. */
function errorCodes(err, seen = new Set()) {
  const codes = [];
  if (err == null || typeof err !== 'object' || seen.has(err)) return codes;
  seen.add(err);
  if (typeof err.code === 'string') codes.push(err.code);
  if (Array.isArray(err.errors)) for (const e of err.errors) codes.push(...errorCodes(e, seen));
  if (err.cause !== undefined) codes.push(...errorCodes(err.cause, seen));
  return codes;
}

function describe(err) {
  let e = err;
  const parts = [];
  for (let i = 0; e && i < 4; i++, e = e.cause) {
    const m = e.code && !String(e.message || '').includes(e.code) ? `${e.message} (${e.code})` : e.message;
    if (m && !parts.includes(m)) parts.push(m);
  }
  return parts.join(': ') || String(err);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function queryValue(v) {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

/**
 * Sends requests with authentication, an Idempotency-Key on POSTs, and
 * retries with exponential backoff and jitter.
 *
 * Retried: connection failures and timeouts (for idempotent methods and
 * POSTs with an Idempotency-Key; a refused connection, which sent nothing,
 * always), 429 (waiting as Retry-After says, unless that is longer than
 * `maxRetryAfterMs` or the limit is the daily one), 409
 * `idempotency-in-flight`, and 5xx but 501 and 505 (for idempotent methods
 * and POSTs with an Idempotency-Key).
 */
export class Transport {
  constructor({
    baseUrl,
    apiKey,
    timeoutMs = 30_000,
    maxRetries = 2,
    backoffBaseMs = 500,
    backoffMaxMs = 8_000,
    maxRetryAfterMs = 60_000,
    userAgent,
    headers,
    fetch: fetchImpl,
  } = {}) {
    if (!baseUrl) throw new TypeError('baseUrl is required, such as http://127.0.0.1:8080');
    let parsed;
    try {
      parsed = new URL(baseUrl);
    } catch {
      throw new TypeError(`baseUrl must be an absolute http or https URL, got ${JSON.stringify(String(baseUrl))}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`baseUrl must be an absolute http or https URL, got ${JSON.stringify(String(baseUrl))}`);
    }
    for (const [name, v] of Object.entries({ timeoutMs, maxRetries, backoffBaseMs, backoffMaxMs, maxRetryAfterMs })) {
      if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`${name} must be a number, 0 or more`);
    }
    this.baseUrl = String(baseUrl).replace(/\/+$/, '');
    this.apiKey = apiKey || undefined;
    this.timeoutMs = timeoutMs;
    this.maxRetries = Math.floor(maxRetries);
    this.backoffBaseMs = backoffBaseMs;
    this.backoffMaxMs = backoffMaxMs;
    this.maxRetryAfterMs = maxRetryAfterMs;
    this.userAgent = [userAgent, `callbackd-js/${VERSION} node/${process.versions.node}`].filter(Boolean).join(' ');
    this.defaultHeaders = headers || {};
    this.fetch = fetchImpl || globalThis.fetch;
    if (typeof this.fetch !== 'function') throw new TypeError('no fetch: Node 18 or later is needed, or pass options.fetch');
  }

  /** The absolute URL of a path with query parameters (undefined and null ones left out). */
  url(path, query) {
    let url = this.baseUrl + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) for (const x of v) params.append(k, queryValue(x));
        else params.append(k, queryValue(v));
      }
      const qs = params.toString();
      if (qs) url += (url.includes('?') ? '&' : '?') + qs;
    }
    return url;
  }

  /**
   * Sends a request and resolves to `{ status, headers, data, replayed }`
   * (`data`: the decoded JSON, the text, a Uint8Array with
   * `responseType: 'bytes'`, or undefined for an empty body). Rejects with an
   * ApiError subclass for an error status and ApiConnectionError when no
   * response came.
   *
   * `idempotencyKey`: undefined makes one up for a POST (reused on its
   * retries); a string is used as it is; false or null sends none.
   */
  async request(method, path, options = {}) {
    const {
      query,
      body,
      rawBody,
      contentType,
      idempotencyKey,
      headers,
      auth = true,
      signal,
      timeoutMs = this.timeoutMs,
      maxRetries = this.maxRetries,
      responseType = 'json',
    } = options;
    method = method.toUpperCase();
    const url = this.url(path, query);
    const hdrs = new Headers(this.defaultHeaders);
    hdrs.set('Accept', responseType === 'bytes' ? 'application/octet-stream, application/problem+json' : 'application/json');
    hdrs.set('User-Agent', this.userAgent);
    if (auth && this.apiKey) hdrs.set('Authorization', `Bearer ${this.apiKey}`);
    let payload;
    if (rawBody !== undefined) {
      payload = rawBody;
      hdrs.set('Content-Type', contentType || 'application/json');
    } else if (body !== undefined) {
      payload = JSON.stringify(body, (k, v) => (v instanceof Date ? v.toISOString() : v));
      hdrs.set('Content-Type', contentType || 'application/json');
    }
    let key;
    if (method === 'POST') {
      if (idempotencyKey === undefined) key = newIdempotencyKey();
      else if (typeof idempotencyKey === 'string' && idempotencyKey !== '') key = idempotencyKey;
      if (key !== undefined) hdrs.set('Idempotency-Key', key);
    }
    if (headers) {
      for (const [k, v] of headers instanceof Headers ? headers.entries() : Object.entries(headers)) {
        if (v === undefined || v === null) hdrs.delete(k);
        else hdrs.set(k, String(v));
      }
    }
    const safe = IDEMPOTENT_METHODS.has(method) || hdrs.has('Idempotency-Key');

    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await this.#send(method, url, hdrs, payload, signal, timeoutMs, responseType);
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err; // the caller's own abort: not ours to retry
        const timedOut = err === TIMED_OUT;
        const refused = !timedOut && errorCodes(err).includes('ECONNREFUSED');
        if ((safe || refused) && attempt < maxRetries) {
          await sleep(this.backoff(attempt), signal);
          continue;
        }
        if (timedOut) {
          throw new ApiTimeoutError(`${method} ${url}: no response within ${timeoutMs} ms`, { method, url });
        }
        throw new ApiConnectionError(`${method} ${url}: ${describe(err)}`, { cause: err, method, url });
      }
      if (res.status < 300) return res; // redirects are not followed: an error too
      const error = ApiError.from(res.status, res.data, res.headers, method, url);
      const delay = this.retryDelay(error, safe, attempt);
      if (delay !== undefined && attempt < maxRetries) {
        await sleep(delay, signal);
        continue;
      }
      throw error;
    }
  }

  async #send(method, url, headers, payload, signal, timeoutMs, responseType) {
    const controller = new AbortController();
    let timer;
    const onAbort = () => controller.abort(signal.reason);
    if (signal) {
      if (signal.aborted) throw signal.reason;
      signal.addEventListener('abort', onAbort, { once: true });
    }
    let timedOut = false;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new Error('timed out'));
      }, timeoutMs);
    }
    try {
      const res = await this.fetch(url, { method, headers, body: payload, signal: controller.signal, redirect: 'manual' });
      let data;
      if (responseType === 'bytes' && res.status < 300) {
        data = new Uint8Array(await res.arrayBuffer());
      } else {
        const text = await res.text();
        data = decode(res.headers.get('content-type'), text);
      }
      return {
        status: res.status,
        headers: res.headers,
        data,
        replayed: (res.headers.get('idempotent-replayed') || '').toLowerCase() === 'true',
      };
    } catch (err) {
      if (timedOut) throw TIMED_OUT;
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Exponential backoff with jitter: a random wait between half and all of base × 2^attempt, at most backoffMaxMs. */
  backoff(attempt) {
    const delay = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** attempt);
    return delay * (0.5 + Math.random() * 0.5);
  }

  /** How long to wait before retrying after `error`, or undefined not to. */
  retryDelay(error, safe, attempt) {
    const retryAfter = parseRetryAfter(error.headers.get('retry-after'));
    if (error.status === 429) {
      if (error instanceof DailyLimitError) return undefined;
      if (retryAfter !== undefined) return retryAfter <= this.maxRetryAfterMs ? retryAfter : undefined;
      return this.backoff(attempt);
    }
    if (error instanceof IdempotencyInFlightError) return this.backoff(attempt);
    if (error.status >= 500 && error.status !== 501 && error.status !== 505 && safe) {
      if (retryAfter !== undefined && retryAfter <= this.maxRetryAfterMs) return retryAfter;
      return this.backoff(attempt);
    }
    return undefined;
  }
}

function decode(contentType, text) {
  if (!text) return undefined;
  const ct = (contentType || '').toLowerCase();
  const first = text.trimStart()[0];
  if (ct.includes('json') || first === '{' || first === '[') {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON after all: the text
    }
  }
  return text;
}
