// The official JavaScript client of callbackd, a self-hosted
// programmable-callback server. ESM, no dependencies, Node 18+.

export { Client, Callbacks, Teams, Webhooks, ApiKeys, Hooks, Triggers, FINAL_STATUSES } from './src/client.js';
export { Page, PagePromise } from './src/pagination.js';
export { newIdempotencyKey, IDEMPOTENT_METHODS } from './src/transport.js';
export { verify, sign, triggerSignature, DEFAULT_TOLERANCE_SECONDS } from './src/webhooks.js';
export {
  PROBLEM_PREFIX,
  CallbackdError,
  ApiError,
  BadRequestError,
  ValidationError,
  IdempotencyMismatchError,
  AuthenticationError,
  PermissionDeniedError,
  DestinationNotAllowedError,
  NotFoundError,
  MethodNotAllowedError,
  ConflictError,
  IdempotencyInFlightError,
  TriggerDisabledError,
  RateLimitError,
  DailyLimitError,
  ServerError,
  ServiceUnavailableError,
  ApiConnectionError,
  ApiTimeoutError,
  WaitTimeoutError,
  WebhookVerificationError,
} from './src/errors.js';
export { VERSION } from './src/version.js';
