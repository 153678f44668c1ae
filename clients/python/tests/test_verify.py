"""callbackd.verify against the Standard Webhooks test vector and the
cases webhook/sign.go handles."""

from __future__ import annotations

import base64
import unittest
from email.message import Message

import server_fixture  # noqa: F401  (puts the package on sys.path)

import callbackd
from callbackd import WebhookVerificationError, sign, verify

# The Standard Webhooks specification's published example.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
PAYLOAD = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(sig: str = SIGNATURE, msg_id: str = MSG_ID, ts: object = TIMESTAMP) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


class TestVerify(unittest.TestCase):
    def test_spec_vector(self) -> None:
        self.assertEqual(sign(SECRET, MSG_ID, TIMESTAMP, PAYLOAD), SIGNATURE)
        self.assertEqual(verify(PAYLOAD, headers(), SECRET, now=TIMESTAMP), {"test": 2432232314})

    def test_secret_without_prefix(self) -> None:
        self.assertEqual(verify(PAYLOAD, headers(), SECRET[len("whsec_"):], now=TIMESTAMP), {"test": 2432232314})

    def test_header_forms(self) -> None:
        h = headers()
        for form in (
            {k.title(): v for k, v in h.items()},
            {k.upper(): v for k, v in h.items()},
            {"HTTP_" + k.upper().replace("-", "_"): v for k, v in h.items()},  # a WSGI environ
            list(h.items()),
        ):
            self.assertEqual(verify(PAYLOAD, form, SECRET, now=TIMESTAMP), {"test": 2432232314}, form)
        msg = Message()
        for k, v in h.items():
            msg[k.title()] = v
        self.assertEqual(verify(PAYLOAD, msg, SECRET, now=TIMESTAMP), {"test": 2432232314})

    def test_several_signatures(self) -> None:
        other = "whsec_" + base64.b64encode(b"k" * 32).decode()
        wrong = sign(other, MSG_ID, TIMESTAMP, PAYLOAD)
        for sig in (wrong + " " + SIGNATURE, SIGNATURE + " " + wrong, "v2,abc " + SIGNATURE, "junk " + SIGNATURE,
                    "v1,!!! " + SIGNATURE):
            self.assertEqual(verify(PAYLOAD, headers(sig), SECRET, now=TIMESTAMP), {"test": 2432232314}, sig)
        with self.assertRaisesRegex(WebhookVerificationError, "no matching"):
            verify(PAYLOAD, headers(wrong), SECRET, now=TIMESTAMP)
        # Only "v1" counts, even when its value would match.
        with self.assertRaises(WebhookVerificationError):
            verify(PAYLOAD, headers("v2," + SIGNATURE[3:]), SECRET, now=TIMESTAMP)

    def test_tampering(self) -> None:
        for payload, h in (
            (b'{"test": 2432232315}', headers()),
            (PAYLOAD, headers(msg_id="msg_other")),
            (PAYLOAD, headers(ts=TIMESTAMP + 1)),
        ):
            with self.assertRaises(WebhookVerificationError):
                verify(payload, h, SECRET, now=TIMESTAMP)

    def test_tolerance_both_ways(self) -> None:
        verify(PAYLOAD, headers(), SECRET, now=TIMESTAMP + 300)
        verify(PAYLOAD, headers(), SECRET, now=TIMESTAMP - 300)
        for now in (TIMESTAMP + 301, TIMESTAMP - 301):
            with self.assertRaisesRegex(WebhookVerificationError, "tolerance"):
                verify(PAYLOAD, headers(), SECRET, now=now)
        verify(PAYLOAD, headers(), SECRET, tolerance=10_000, now=TIMESTAMP + 5000)
        with self.assertRaises(WebhookVerificationError):
            verify(PAYLOAD, headers(), SECRET, tolerance=10, now=TIMESTAMP - 11)
        # Without now: the real clock, and 2021 is long past.
        with self.assertRaises(WebhookVerificationError):
            verify(PAYLOAD, headers(), SECRET)

    def test_bad_timestamp(self) -> None:
        for ts in ("abc", "-5", "1614265330.5", "0x10"):
            with self.assertRaisesRegex(WebhookVerificationError, "Unix seconds"):
                verify(PAYLOAD, headers(ts=ts), SECRET, now=TIMESTAMP)

    def test_missing_headers(self) -> None:
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            h = headers()
            del h[name]
            with self.assertRaisesRegex(WebhookVerificationError, name):
                verify(PAYLOAD, h, SECRET, now=TIMESTAMP)
            h = headers()
            h[name] = "  "
            with self.assertRaisesRegex(WebhookVerificationError, "missing"):
                verify(PAYLOAD, h, SECRET, now=TIMESTAMP)

    def test_bad_secret(self) -> None:
        for secret in ("", "whsec_", "whsec_not*base64", "whsec_abc"):
            with self.assertRaisesRegex(WebhookVerificationError, "secret") as ctx:
                verify(PAYLOAD, headers(), secret, now=TIMESTAMP)
            if len(secret) > len("whsec_"):
                self.assertNotIn(secret[6:], str(ctx.exception))

    def test_payload_types(self) -> None:
        self.assertEqual(verify(bytearray(PAYLOAD), headers(), SECRET, now=TIMESTAMP), {"test": 2432232314})
        self.assertEqual(verify(PAYLOAD.decode(), headers(), SECRET, now=TIMESTAMP), {"test": 2432232314})
        with self.assertRaises(TypeError):
            verify({"test": 2432232314}, headers(), SECRET, now=TIMESTAMP)  # type: ignore[arg-type]

    def test_signed_non_json(self) -> None:
        body = b"not json"
        sig = sign(SECRET, MSG_ID, TIMESTAMP, body)
        with self.assertRaisesRegex(WebhookVerificationError, "not JSON"):
            verify(body, headers(sig), SECRET, now=TIMESTAMP)

    def test_error_hierarchy(self) -> None:
        self.assertTrue(issubclass(WebhookVerificationError, callbackd.CallbackdError))
        self.assertTrue(issubclass(WebhookVerificationError, ValueError))


if __name__ == "__main__":
    unittest.main()
