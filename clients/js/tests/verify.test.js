// verify(), sign() and triggerSignature(): the Standard Webhooks test
// vector and the edge cases (as webhook/sign_test.go checks the server's side).

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { sign, triggerSignature, verify, WebhookVerificationError } from '../index.js';

// The Standard Webhooks specification's published vector.
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const BARE_KEY = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const MSG_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TS = 1614265330;
const PAYLOAD = '{"test": 2432232314}';
const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const WRONG = 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=';

const headers = (sig = SIGNATURE, ts = TS, id = MSG_ID) => ({
  'webhook-id': id,
  'webhook-timestamp': String(ts),
  'webhook-signature': sig,
});

function throwsCode(fn, code) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof WebhookVerificationError, `${err} is a WebhookVerificationError`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('verify', () => {
  test('the spec vector, payload as a string, Buffer or Uint8Array', () => {
    const want = { test: 2432232314 };
    assert.deepEqual(verify(PAYLOAD, headers(), SECRET, { now: TS }), want);
    assert.deepEqual(verify(Buffer.from(PAYLOAD), headers(), SECRET, { now: TS }), want);
    assert.deepEqual(verify(new TextEncoder().encode(PAYLOAD), headers(), SECRET, { now: TS }), want);
    const sliced = Buffer.from('xx' + PAYLOAD + 'yy').subarray(2, 2 + PAYLOAD.length);
    assert.deepEqual(verify(new Uint8Array(sliced.buffer, sliced.byteOffset, sliced.length), headers(), SECRET, { now: TS }), want);
    assert.deepEqual(verify(PAYLOAD, headers(), SECRET, { now: new Date(TS * 1000) }), want);
  });

  test('the secret with or without whsec_', () => {
    assert.deepEqual(verify(PAYLOAD, headers(), BARE_KEY, { now: TS }), { test: 2432232314 });
  });

  test('headers as a Headers instance or an object in any case', () => {
    assert.ok(verify(PAYLOAD, new Headers(headers()), SECRET, { now: TS }));
    const upper = { 'Webhook-Id': MSG_ID, 'WEBHOOK-TIMESTAMP': String(TS), 'Webhook-Signature': SIGNATURE };
    assert.ok(verify(PAYLOAD, upper, SECRET, { now: TS }));
    // Node's req.headers may hold a repeated header as an array.
    assert.ok(verify(PAYLOAD, { ...headers(), 'webhook-signature': [WRONG, SIGNATURE] }, SECRET, { now: TS }));
  });

  test('any of several signatures (a rotation) may match; other versions are ignored', () => {
    assert.ok(verify(PAYLOAD, headers(`${WRONG} ${SIGNATURE}`), SECRET, { now: TS }));
    assert.ok(verify(PAYLOAD, headers(`v1a,xyz ${SIGNATURE}  v2,abc`), SECRET, { now: TS }));
    throwsCode(() => verify(PAYLOAD, headers(`v2,${SIGNATURE.slice(3)}`), SECRET, { now: TS }), 'no_matching_signature');
  });

  test('a wrong, partial or garbled signature, or a changed body or id, fails', () => {
    throwsCode(() => verify(PAYLOAD, headers(WRONG), SECRET, { now: TS }), 'no_matching_signature');
    throwsCode(() => verify(PAYLOAD, headers('v1,'), SECRET, { now: TS }), 'no_matching_signature');
    throwsCode(() => verify(PAYLOAD, headers('v1,dawfeoifkpqwoekfpqoekf'), SECRET, { now: TS }), 'no_matching_signature');
    throwsCode(() => verify(PAYLOAD, headers(SIGNATURE.slice(0, -4) + '===='), SECRET, { now: TS }), 'no_matching_signature');
    throwsCode(() => verify(PAYLOAD + ' ', headers(), SECRET, { now: TS }), 'no_matching_signature');
    throwsCode(() => verify(PAYLOAD, headers(SIGNATURE, TS, 'msg_other'), SECRET, { now: TS }), 'no_matching_signature');
    throwsCode(() => verify(PAYLOAD, headers(), 'whsec_' + 'A'.repeat(32), { now: TS }), 'no_matching_signature');
  });

  test('the timestamp must be within the tolerance, either way', () => {
    assert.ok(verify(PAYLOAD, headers(), SECRET, { now: TS + 300 }));
    assert.ok(verify(PAYLOAD, headers(), SECRET, { now: TS - 300 }));
    throwsCode(() => verify(PAYLOAD, headers(), SECRET, { now: TS + 301 }), 'timestamp_out_of_tolerance');
    throwsCode(() => verify(PAYLOAD, headers(), SECRET, { now: TS - 301 }), 'timestamp_out_of_tolerance');
    assert.ok(verify(PAYLOAD, headers(), SECRET, { now: TS + 1000, toleranceSeconds: 1000 }));
    throwsCode(() => verify(PAYLOAD, headers(), SECRET, { now: TS + 11, toleranceSeconds: 10 }), 'timestamp_out_of_tolerance');
    // The default is now: the vector is from 2021.
    throwsCode(() => verify(PAYLOAD, headers(), SECRET), 'timestamp_out_of_tolerance');
    throwsCode(() => verify(PAYLOAD, headers(SIGNATURE, 'soon'), SECRET, { now: TS }), 'invalid_timestamp');
    throwsCode(() => verify(PAYLOAD, headers(SIGNATURE, '-1'), SECRET, { now: TS }), 'invalid_timestamp');
  });

  test('missing headers are named', () => {
    const h = headers();
    delete h['webhook-id'];
    h['webhook-signature'] = '  ';
    assert.throws(
      () => verify(PAYLOAD, h, SECRET, { now: TS }),
      (err) => err.code === 'missing_headers' && /webhook-id, webhook-signature/.test(err.message),
    );
    throwsCode(() => verify(PAYLOAD, {}, SECRET, { now: TS }), 'missing_headers');
    throwsCode(() => verify(PAYLOAD, new Headers(), SECRET, { now: TS }), 'missing_headers');
  });

  test('a bad secret fails without echoing it', () => {
    throwsCode(() => verify(PAYLOAD, headers(), 'whsec_', { now: TS }), 'invalid_secret');
    assert.throws(
      () => verify(PAYLOAD, headers(), 'whsec_not*base64', { now: TS }),
      (err) => err.code === 'invalid_secret' && !err.message.includes('not*base64'),
    );
  });

  test('the payload must be the raw body, and JSON once verified', () => {
    assert.throws(() => verify({ test: 2432232314 }, headers(), SECRET, { now: TS }), TypeError);
    const body = 'not json';
    const sig = sign(body, SECRET, { id: MSG_ID, timestamp: TS });
    throwsCode(() => verify(body, headers(sig), SECRET, { now: TS }), 'invalid_payload');
  });
});

describe('sign', () => {
  test('reproduces the spec vector and round-trips through verify', () => {
    assert.equal(sign(PAYLOAD, SECRET, { id: MSG_ID, timestamp: TS }), SIGNATURE);
    assert.equal(sign(Buffer.from(PAYLOAD), BARE_KEY, { id: MSG_ID, timestamp: new Date(TS * 1000) }), SIGNATURE);
    const now = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ id: 'evt_x', type: 'ping', data: {} });
    const sig = sign(body, SECRET, { id: 'evt_x' });
    assert.equal(verify(body, headers(sig, now, 'evt_x'), SECRET).type, 'ping');
  });
});

describe('triggerSignature', () => {
  test('sha256= and the hex HMAC of the raw body keyed with the secret as it is', () => {
    const secret = 'tsec_abc';
    const body = '{"score":91}';
    const want = 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
    assert.equal(triggerSignature(secret, body), want);
    assert.equal(triggerSignature(secret, Buffer.from(body)), want);
    assert.match(want, /^sha256=[0-9a-f]{64}$/);
  });
});
