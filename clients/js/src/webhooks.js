// Verifying (and signing) webhooks by the Standard Webhooks scheme
// (https://www.standardwebhooks.com), as callbackd sends them.
//
// Each request carries webhook-id (the event's ID, the same on every retry),
// webhook-timestamp (Unix seconds when this attempt was sent) and
// webhook-signature: space-separated `v1,<base64 HMAC-SHA256>` of
// `{id}.{timestamp}.{raw body}`, keyed with the base64-decoded part of the
// `whsec_` secret, one per active secret during a rotation.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookVerificationError } from './errors.js';

/** How far (seconds) a webhook-timestamp may be from now, either way, by default. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function key(secret) {
  if (typeof secret !== 'string') {
    throw new WebhookVerificationError('invalid_secret', 'invalid webhook secret: expected a string');
  }
  let s = secret.trim();
  if (s.startsWith(SECRET_PREFIX)) s = s.slice(SECRET_PREFIX.length);
  if (!s) throw new WebhookVerificationError('invalid_secret', 'invalid webhook secret: empty');
  // Never echo the secret itself.
  if (!BASE64.test(s)) {
    throw new WebhookVerificationError('invalid_secret', `invalid webhook secret: not base64 after "${SECRET_PREFIX}"`);
  }
  return Buffer.from(s, 'base64');
}

function bytes(payload) {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload instanceof ArrayBuffer) return Buffer.from(payload);
  throw new TypeError(
    `payload must be the raw body (a string, Buffer or Uint8Array), not ${payload === null ? 'null' : typeof payload}: verify before parsing`,
  );
}

function mac(k, id, timestamp, body) {
  return createHmac('sha256', k).update(`${id}.${timestamp}.`, 'utf8').update(body).digest();
}

/** A header's value from a Headers instance (or anything with get()) or a plain object in any case. */
function header(headers, name) {
  if (headers == null) return undefined;
  let v;
  if (typeof headers.get === 'function') {
    v = headers.get(name);
  } else if (typeof headers === 'object') {
    if (Object.hasOwn(headers, name)) v = headers[name];
    else {
      for (const [k, val] of Object.entries(headers)) {
        if (k.toLowerCase() === name) {
          v = val;
          break;
        }
      }
    }
  }
  if (v === undefined || v === null) return undefined;
  // Node's IncomingHttpHeaders may hold repeated headers as an array.
  if (Array.isArray(v)) return v.join(' ');
  return String(v);
}

function unixSeconds(t) {
  if (t instanceof Date) return Math.floor(t.getTime() / 1000);
  if (typeof t === 'number' && Number.isFinite(t)) return Math.floor(t);
  throw new TypeError('a time must be a Date or Unix seconds');
}

/**
 * The `v1,<base64>` signature of `payload` sent as message `id` at
 * `timestamp` (a Date or Unix seconds) under `secret`: what callbackd puts
 * in webhook-signature. For tests of a receiver.
 */
export function sign(payload, secret, { id, timestamp = new Date() } = {}) {
  if (typeof id !== 'string' || !id) throw new TypeError('sign needs the message id');
  return `v1,${mac(key(secret), id, unixSeconds(timestamp), bytes(payload)).toString('base64')}`;
}

/**
 * Verifies a received webhook and returns its decoded JSON body.
 *
 * `payload` is the raw request body exactly as received (a string, Buffer
 * or Uint8Array: parse it only after verifying); `headers` the request's
 * headers (a plain object in any case, such as Node's `req.headers`, or a
 * Headers instance); `secret` the endpoint's `whsec_...` secret (the prefix
 * is optional). The webhook-timestamp must be within `toleranceSeconds` of
 * `now` (a Date or Unix seconds; default: the current time), before or after,
 * and one of the signatures in webhook-signature must match (compared in
 * constant time). Throws WebhookVerificationError otherwise.
 */
export function verify(payload, headers, secret, { toleranceSeconds = DEFAULT_TOLERANCE_SECONDS, now } = {}) {
  const k = key(secret);
  const body = bytes(payload);
  const id = header(headers, 'webhook-id');
  const tsText = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  const missing = [
    ['webhook-id', id],
    ['webhook-timestamp', tsText],
    ['webhook-signature', sigs],
  ]
    .filter(([, v]) => v === undefined || !v.trim())
    .map(([n]) => n);
  if (missing.length) {
    throw new WebhookVerificationError('missing_headers', `missing webhook headers: ${missing.join(', ')}`);
  }
  const ts = tsText.trim();
  if (!/^[0-9]{1,15}$/.test(ts)) {
    throw new WebhookVerificationError('invalid_timestamp', `webhook-timestamp ${JSON.stringify(ts.slice(0, 32))} is not Unix seconds`);
  }
  const seconds = Number(ts);
  const current = now === undefined ? Date.now() / 1000 : unixSeconds(now);
  const skew = current - seconds;
  if (Math.abs(skew) > toleranceSeconds) {
    throw new WebhookVerificationError(
      'timestamp_out_of_tolerance',
      `webhook-timestamp is ${Math.round(skew)}s from now, more than the tolerance of ${toleranceSeconds}s`,
    );
  }
  const expected = mac(k, id, seconds, body);
  let matched = false;
  for (const entry of sigs.trim().split(/\s+/)) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const value = entry.slice(comma + 1);
    if (!BASE64.test(value)) continue;
    const got = Buffer.from(value, 'base64');
    // Check every entry, so the time taken does not tell which matched.
    if (got.length === expected.length && timingSafeEqual(got, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError('no_matching_signature', 'no matching webhook signature');
  let event;
  try {
    event = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new WebhookVerificationError('invalid_payload', `the signed payload is not JSON: ${err.message}`);
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new WebhookVerificationError('invalid_payload', 'the signed payload is not a JSON object');
  }
  return event;
}

/**
 * The X-Callbackd-Signature value of an event sent to a trigger whose
 * auth.mode is hmac_sha256: `sha256=` and the hex HMAC-SHA256 of the raw
 * body, keyed with the trigger's `tsec_` secret as it is (not decoded).
 */
export function triggerSignature(secret, payload) {
  return `sha256=${createHmac('sha256', secret).update(bytes(payload)).digest('hex')}`;
}
