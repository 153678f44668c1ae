// Errors thrown by the callbackd client.
//
// Every error the server answers is an RFC 9457 application/problem+json
// document; ApiError carries its fields (type, title, status, detail, field,
// reason) and its subclasses name the common cases, so callers can write
// `if (err instanceof NotFoundError)` or switch on `err.code`.

/** Every problem type the server sends starts with this; the rest is the code. */
export const PROBLEM_PREFIX = 'urn:callbackd:problem:';

/** The base of every error this package throws. */
export class CallbackdError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

function str(v) {
  return typeof v === 'string' ? v : undefined;
}

/**
 * The server answered with an error status. The fields mirror the problem
 * document; `code` is its type without `urn:callbackd:problem:`
 * (`validation`, `not-found`, ...).
 */
export class ApiError extends CallbackdError {
  constructor({ status, type, title, detail, field, reason, problem, headers, method, url } = {}) {
    const t = type || 'about:blank';
    const code = t.startsWith(PROBLEM_PREFIX) ? t.slice(PROBLEM_PREFIX.length) : t;
    let message = `${status} ${code}`;
    if (field) message += `: ${field}`;
    if (detail || title) message += `: ${detail || title}`;
    if (reason) message += ` (${reason})`;
    super(message);
    this.status = status;
    this.type = t;
    this.code = code;
    this.title = title || '';
    this.detail = detail || '';
    this.field = field;
    this.reason = reason;
    this.problem = problem || {};
    this.headers = headers || new Headers();
    this.method = method;
    this.url = url;
  }

  /** Builds the error for an error response; `body` is the decoded JSON (a problem document, normally) or the text. */
  static from(status, body, headers, method, url) {
    const raw = body && typeof body === 'object' && !Array.isArray(body) ? body : {};
    const type = str(raw.type) || 'about:blank';
    let detail = str(raw.detail) || '';
    if (!detail && typeof body === 'string') detail = body.trim().slice(0, 500);
    const Cls = errorClass(status, type);
    return new Cls({
      status,
      type,
      title: str(raw.title) || '',
      detail,
      field: str(raw.field),
      reason: str(raw.reason),
      problem: raw,
      headers,
      method,
      url,
    });
  }
}

/** 400, 413 or 415: the request could not be read (malformed JSON, an unknown field, a wrong type, a body too large). */
export class BadRequestError extends ApiError {}
/** 422: a value was refused; `field` names it, `reason` says why. */
export class ValidationError extends BadRequestError {}
/** 422 `idempotency-mismatch`: the Idempotency-Key was used with another request in the last 24 hours. */
export class IdempotencyMismatchError extends ValidationError {}
/** 401: no API key, or an unknown or revoked one (or a trigger's secret is wrong). */
export class AuthenticationError extends ApiError {}
/** 403: the API key lacks the scope, or a guardrail refused the destination. */
export class PermissionDeniedError extends ApiError {}
/** 403 `destination-not-allowed` or `premium-rate`: the guardrails refuse to call this number. */
export class DestinationNotAllowedError extends PermissionDeniedError {}
/** 404: no such resource (or route). */
export class NotFoundError extends ApiError {}
/** 405: the path has no such method. */
export class MethodNotAllowedError extends ApiError {}
/** 409: the resource's state forbids it (a callback already final, an ID taken, a team in use). */
export class ConflictError extends ApiError {}
/** 409 `idempotency-in-flight`: a request with the same Idempotency-Key is still running. */
export class IdempotencyInFlightError extends ConflictError {}
/** 409 `trigger-disabled`: the trigger is disabled. */
export class TriggerDisabledError extends ConflictError {}
/** 429: too many requests. `retryAfterMs` is the server's Retry-After, when it sent one. */
export class RateLimitError extends ApiError {
  get retryAfterMs() {
    return parseRetryAfter(this.headers.get('retry-after'));
  }
}
/** 429 `daily-limit`: the customer's number had its allowed callbacks in the last 24 hours; retrying soon will not help. */
export class DailyLimitError extends RateLimitError {}
/** 5xx: the server failed. */
export class ServerError extends ApiError {}
/** 503: the server is shutting down (`draining`) or not ready. */
export class ServiceUnavailableError extends ServerError {}

/** No HTTP response: the connection was refused or dropped, DNS or TLS failed. The original error is `cause`. */
export class ApiConnectionError extends CallbackdError {
  constructor(message, { cause, method, url } = {}) {
    super(message, cause !== undefined ? { cause } : undefined);
    this.method = method;
    this.url = url;
  }
}
/** The server did not answer within the client's `timeoutMs`. */
export class ApiTimeoutError extends ApiConnectionError {}
/** A wait (such as `callbacks.wait`) ran out of time. */
export class WaitTimeoutError extends CallbackdError {}
/**
 * A received webhook failed verification. `code`: `missing_headers`,
 * `invalid_timestamp`, `timestamp_out_of_tolerance`, `no_matching_signature`,
 * `invalid_secret` or `invalid_payload`.
 */
export class WebhookVerificationError extends CallbackdError {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const BY_CODE = {
  'idempotency-mismatch': IdempotencyMismatchError,
  'idempotency-in-flight': IdempotencyInFlightError,
  'trigger-disabled': TriggerDisabledError,
  'destination-not-allowed': DestinationNotAllowedError,
  'premium-rate': DestinationNotAllowedError,
  'daily-limit': DailyLimitError,
  draining: ServiceUnavailableError,
};

const BY_STATUS = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  405: MethodNotAllowedError,
  409: ConflictError,
  413: BadRequestError,
  415: BadRequestError,
  422: ValidationError,
  429: RateLimitError,
  503: ServiceUnavailableError,
};

/** The ApiError subclass for a status and problem type. */
export function errorClass(status, type) {
  const code = typeof type === 'string' && type.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : '';
  if (Object.hasOwn(BY_CODE, code)) return BY_CODE[code];
  if (Object.hasOwn(BY_STATUS, status)) return BY_STATUS[status];
  if (status >= 500) return ServerError;
  return ApiError;
}

/**
 * Milliseconds to wait from a Retry-After header: delta-seconds or an HTTP
 * date. undefined when absent or unreadable.
 */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null) return undefined;
  const v = String(value).trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.max(0, Math.round(Number(v) * 1000));
  const when = Date.parse(v);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}
