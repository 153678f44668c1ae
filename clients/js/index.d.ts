// Type declarations of @callbackd/client, written by hand after the
// server's OpenAPI 3.1 document (api/openapi.json). Response fields keep the
// API's snake_case names; times are RFC 3339 strings, durations strings such
// as "2m" or "1h30m".

// ---------------------------------------------------------------------------
// Common values

/** An RFC 3339 date-time, such as "2026-11-29T01:54:55.600024739Z". */
export type DateTime = string;
/** A Go duration: "90s", "2m", "1h30m", "500ms". */
export type Duration = string;
/** A number in E.164 form, such as "+15550000005". */
export type E164 = string;

export type CallbackStatus = 'scheduled' | 'in_progress' | 'completed' | 'failed' | 'canceled';
export type LegRole = 'rep' | 'customer';
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export type Scope = 'callbacks:write' | 'callbacks:read' | 'admin';
export type TeamStrategy = 'sequential' | 'round_robin';

export type CallbackEventType =
  | 'callback.scheduled'
  | 'callback.attempt_started'
  | 'callback.retry_scheduled'
  | 'callback.completed'
  | 'callback.failed'
  | 'callback.canceled'
  | 'call.initiated'
  | 'call.ringing'
  | 'call.connected'
  | 'call.completed'
  | 'call.missed';

/** The event types an endpoint may subscribe to (`ping` goes only to the endpoint tested). */
export type WebhookEventType = CallbackEventType;

export type AttemptOutcome =
  | 'connected'
  | 'customer_no_answer'
  | 'customer_busy'
  | 'customer_rejected'
  | 'failed'
  | 'rep_no_answer'
  | 'rep_busy'
  | 'rep_rejected'
  | 'interrupted';

export interface Party {
  number: E164;
  name?: string;
}

export interface PartyInput {
  /** E.164, or a form the server can read as E.164. */
  number: string;
  name?: string;
}

export interface CallerID {
  /** E.164, or "" for the trunk's default. */
  number: string;
  name?: string;
}

export interface CallerIDInput {
  number?: string;
  name?: string;
}

/** Business hours: a callback waits for the window's next opening. */
export interface Window {
  /** An IANA time zone, such as "Europe/London". */
  time_zone: string;
  /** Per weekday, ranges such as "09:00-12:00". */
  hours: Partial<Record<Weekday, string[]>>;
  /** Dates ("2026-12-25") the window is closed all day. */
  closed?: string[];
}

export interface WindowInput {
  time_zone: string;
  /** Keys are days or day ranges: "mon", "mon-fri", "sat-sun"; values ranges such as "09:00-17:30". */
  hours: Record<string, string[]>;
  closed?: string[];
}

export interface Backoff {
  base: Duration;
  factor?: number;
  max?: Duration;
  jitter?: number;
}

export interface BackoffInput {
  base: Duration;
  /** 0 (the default, 2) or 1 to 10. */
  factor?: number;
  max?: Duration;
  jitter?: number;
}

export interface RetryPolicy {
  max_attempts?: number;
  intervals?: Duration[];
  backoff?: Backoff;
  deadline?: DateTime;
  deadline_after?: Duration;
  retry_customer_rejected?: boolean;
}

export interface RetryPolicyInput {
  max_attempts?: number;
  intervals?: Duration[];
  backoff?: BackoffInput;
  deadline?: DateTime | Date;
  deadline_after?: Duration;
  retry_customer_rejected?: boolean;
}

// ---------------------------------------------------------------------------
// Callbacks

export interface Callback {
  id: string;
  status: CallbackStatus;
  team?: string;
  rep_number?: E164;
  customer: Party;
  scheduled_at?: DateTime;
  next_attempt_at?: DateTime;
  window: Window | null;
  retry: RetryPolicy;
  webhook_url?: string;
  metadata?: Record<string, string>;
  attempt_count: number;
  outcome?: string;
  reason?: string;
  created_at: DateTime;
  updated_at: DateTime;
}

export interface Leg {
  role: LegRole;
  number: E164;
  call_id?: string;
  outcome?: string;
  sip_code?: number;
  sip_reason?: string;
  invited_at?: DateTime;
  ringing_at?: DateTime;
  answered_at?: DateTime;
  ended_at?: DateTime;
}

export interface Attempt {
  callback_id: string;
  number: number;
  started_at: DateTime;
  finished_at?: DateTime;
  outcome?: AttemptOutcome;
  cause?: string;
  sip_code?: number;
  sip_reason?: string;
  trunk?: string;
  reps?: Leg[];
  customer?: Leg;
  connected_at?: DateTime;
  talk_seconds?: number;
  hung_up_by?: string;
}

/** A callback with its attempts, as `callbacks.get` answers. */
export interface CallbackDetail extends Callback {
  attempts: Attempt[];
}

export interface CallbackCustomerInput {
  /** E.164, or a national number with `country`. */
  number: string;
  /** An ISO 3166 country code ("US", "GB") for a national number. */
  country?: string;
  name?: string;
}

interface CallbackCreateCommon {
  customer: CallbackCustomerInput;
  /** When to call; omitted or null: now (or the window's next opening). At most a year ahead. */
  scheduled_at?: DateTime | Date | null;
  retry?: RetryPolicyInput | null;
  webhook_url?: string;
  metadata?: Record<string, string>;
}

/** What `callbacks.create` takes: a customer and exactly one of `team` and `rep_number`. */
export type CallbackCreateParams =
  | (CallbackCreateCommon & { team: string; rep_number?: never })
  | (CallbackCreateCommon & { rep_number: string; team?: never });

export interface CallbackListParams {
  status?: CallbackStatus;
  team?: string;
  /** An exact E.164 customer number. */
  customer?: string;
  created_gte?: DateTime | Date;
  created_lt?: DateTime | Date;
  /** Page size, 1 to 100 (default 20). */
  limit?: number;
  /** A callback ID: start after it (the next page). */
  starting_after?: string;
}

export interface EventListParams {
  /** Only events with a sequence number above this. */
  after?: number;
  /** Page size, 1 to 1000 (default 100). */
  limit?: number;
}

export interface EventDataScheduled {
  next_attempt_at: DateTime;
  trigger_id?: string;
}

export interface EventDataAttemptStarted {
  attempt: number;
}

export interface EventDataRetryScheduled {
  attempt: number;
  next_attempt_at: DateTime;
  outcome: string;
}

export interface EventDataFinal {
  attempt?: number;
  reason?: string;
  outcome?: string;
  talk_seconds?: number;
}

export interface EventDataCall {
  attempt: number;
  leg: LegRole;
  number: E164;
  call_id?: string;
  sip_code?: number;
  sip_reason?: string;
  at: DateTime;
}

interface EventBase {
  id: string;
  callback_id: string;
  /** The event's place in its callback's log: 1, 2, 3, ... without gaps. */
  sequence: number;
  created_at: DateTime;
}

/** An entry of a callback's event log; `data` depends on `type`. */
export type CallbackEvent = EventBase &
  (
    | { type: 'callback.scheduled'; data: EventDataScheduled }
    | { type: 'callback.attempt_started'; data: EventDataAttemptStarted }
    | { type: 'callback.retry_scheduled'; data: EventDataRetryScheduled }
    | { type: 'callback.completed' | 'callback.failed' | 'callback.canceled'; data: EventDataFinal }
    | {
        type: 'call.initiated' | 'call.ringing' | 'call.connected' | 'call.completed' | 'call.missed';
        data: EventDataCall;
      }
  );

export interface WaitOptions {
  /** The statuses to wait for (default: completed, failed, canceled). */
  until?: CallbackStatus | CallbackStatus[];
  /** Default 120000. */
  timeoutMs?: number;
  /** Default 500. */
  intervalMs?: number;
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------
// Teams

export interface Team {
  id: string;
  name: string;
  reps: Party[];
  strategy: TeamStrategy;
  window: Window | null;
  retry: RetryPolicy;
  rep_ring_timeout?: Duration;
  customer_ring_timeout?: Duration;
  whisper?: string;
  caller_id?: CallerID;
  created_at: DateTime;
  updated_at: DateTime;
}

export interface TeamCreateParams {
  /** Lowercase letters, digits, "_" and "-", at most 64; default: made by the server (`team_...`). */
  id?: string;
  name?: string;
  /** The reps, in the order they are tried (1 to 50). */
  reps: PartyInput[];
  strategy?: TeamStrategy | '';
  window?: WindowInput | null;
  retry?: RetryPolicyInput | null;
  rep_ring_timeout?: Duration;
  customer_ring_timeout?: Duration;
  whisper?: string;
  caller_id?: CallerIDInput;
}

/** The fields to replace; null resets one to its default. */
export interface TeamUpdateParams {
  id?: string;
  name?: string | null;
  reps?: PartyInput[];
  strategy?: TeamStrategy | '' | null;
  window?: WindowInput | null;
  retry?: RetryPolicyInput | null;
  rep_ring_timeout?: Duration | null;
  customer_ring_timeout?: Duration | null;
  whisper?: string | null;
  caller_id?: CallerIDInput | null;
}

// ---------------------------------------------------------------------------
// Webhooks

export interface Webhook {
  id: string;
  url: string;
  /** Empty: every type. */
  event_types: WebhookEventType[];
  description?: string;
  enabled: boolean;
  disabled_reason?: string;
  failing_since?: DateTime;
  /** "rest_hook" for an endpoint made by a REST Hooks subscription. */
  source?: 'rest_hook';
  created_at: DateTime;
  updated_at: DateTime;
}

/** `webhooks.create`'s answer: the endpoint with its signing secret. */
export interface WebhookCreated extends Webhook {
  /** "whsec_" and base64. */
  secret: string;
}

export interface WebhookCreateParams {
  url: string;
  /** Omitted or empty: every type. */
  event_types?: WebhookEventType[];
  description?: string;
  enabled?: boolean;
}

export interface WebhookUpdateParams {
  url?: string | null;
  event_types?: WebhookEventType[] | null;
  description?: string | null;
  enabled?: boolean | null;
}

export interface RotateSecretParams {
  /** How long the old secrets keep signing: default "24h", at most "168h", "0s" stops them at once. */
  overlap?: Duration | null;
}

export interface DeliveryAttempt {
  at: DateTime;
  status_code?: number;
  latency_ms: number;
  error?: string;
}

export interface Delivery {
  id: string;
  /** The endpoint's ID; absent on a delivery to a callback's own `webhook_url`. */
  webhook_id?: string;
  url?: string;
  event_id: string;
  event_type: WebhookEventType | 'ping';
  callback_id?: string;
  sequence?: number;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: DeliveryAttempt[];
  next_attempt_at?: DateTime;
  error?: string;
  created_at: DateTime;
  updated_at: DateTime;
}

export interface DeliveryListParams {
  /** Page size, 1 to 100 (default 20). */
  limit?: number;
  starting_after?: string;
}

export interface WebhookEventData {
  /** The callback as it stood after the change. */
  callback?: Callback;
  /** The attempt the event belongs to, if any. */
  attempt?: Attempt;
  /** For `call.*` events: the leg's step. */
  call?: EventDataCall;
  /**
   * For the others: the `data` of the event in the callback's log, such as
   * `{"attempt":1,"outcome":"connected","talk_seconds":5}`; for `ping`, an
   * EventDataPing.
   */
  details?: EventDataPing | EventDataScheduled | EventDataAttemptStarted | EventDataRetryScheduled | EventDataFinal | Record<string, unknown>;
}

/** The `details` of a `ping`. */
export interface EventDataPing {
  webhook_id: string;
  message: string;
}

/** The body callbackd POSTs to a webhook endpoint (what `verify` returns). */
export interface WebhookEvent {
  /** The event (`evt_...`), the same on every retry: the webhook-id header. */
  id: string;
  type: WebhookEventType | 'ping' | (string & {});
  created_at: DateTime;
  /** The event's place in its callback's log; `ping` has none. */
  sequence?: number;
  data: WebhookEventData;
}

// ---------------------------------------------------------------------------
// API keys

export interface ApiKey {
  id: string;
  name: string;
  /** The secret's first characters, to recognise it. */
  prefix: string;
  scopes: Scope[];
  created_at: DateTime;
  revoked_at?: DateTime;
}

export interface ApiKeyCreated extends ApiKey {
  /** The key's secret ("cbk_..."), shown this once (not in an idempotent replay). */
  secret?: string;
}

export interface ApiKeyCreateParams {
  name: string;
  scopes: Scope[];
}

// ---------------------------------------------------------------------------
// REST Hooks

export interface SubscriptionCreateParams {
  target_url: string;
  event: WebhookEventType;
}

export interface Subscription {
  /** The endpoint's ID (`we_...`). */
  id: string;
  target_url: string;
  event: WebhookEventType;
  secret: string;
  created_at: DateTime;
}

export interface SamplesParams {
  event: WebhookEventType;
  /** 1 to 100 (default 10). */
  limit?: number;
}

// ---------------------------------------------------------------------------
// Triggers

/** A CEL expression over `payload`; a constant is a quoted CEL string ("'sales'"). */
export type Expression = string;

export interface TriggerMapping {
  customer_number: Expression;
  customer_name?: Expression;
  customer_country?: Expression;
  team?: Expression;
  rep_number?: Expression;
  scheduled_at?: Expression;
  delay?: Expression;
  metadata?: Record<string, Expression>;
}

export type TriggerAuthMode = 'token_header' | 'token_query' | 'hmac_sha256';

export interface TriggerAuth {
  mode?: TriggerAuthMode;
}

export interface Trigger {
  id: string;
  name: string;
  condition?: Expression;
  mapping: TriggerMapping;
  dedup?: Duration;
  rate_limit?: number;
  auth: TriggerAuth;
  enabled: boolean;
  /** The path events are posted to: "/v1/hooks/trg_...". */
  url: string;
  created_at: DateTime;
  updated_at: DateTime;
}

export interface TriggerCreated extends Trigger {
  /** "tsec_...": shown here and by `rotateSecret` only. */
  secret: string;
}

export interface TriggerCreateParams {
  name: string;
  condition?: Expression;
  mapping: TriggerMapping;
  dedup?: Duration;
  rate_limit?: number;
  auth?: TriggerAuth;
  enabled?: boolean;
}

export interface TriggerUpdateParams {
  name?: string | null;
  condition?: Expression | null;
  mapping?: TriggerMapping | null;
  dedup?: Duration | null;
  rate_limit?: number | null;
  auth?: TriggerAuth | null;
  enabled?: boolean | null;
}

export interface TriggerRotateSecretParams {
  /**
   * How long the secret being replaced keeps authenticating events beside
   * the new one: default "0s" (it stops at once), at most "168h". Only the
   * secret just replaced is kept; a second rotation drops the first one's.
   */
  overlap?: Duration | null;
}

export interface HookResult {
  matched: boolean;
  /** Why not matched, such as "condition is false". */
  reason?: string;
  /** A callback was made for this number within the dedup window: `callback_id` is that one. */
  duplicate?: true;
  callback_id?: string;
  /** The callback made (a 201). */
  callback?: Callback;
}

export interface FireOptions extends RequestOptions {
  /** The trigger's secret (default: the Trigger object's own `secret`, when it has one). */
  secret?: string;
  /** How to send the secret (default: the Trigger object's `auth.mode`, else "token_header"). */
  authMode?: TriggerAuthMode;
}

// ---------------------------------------------------------------------------
// Problems, health

export interface Problem {
  /** "urn:callbackd:problem:<code>". */
  type: string;
  title: string;
  status: number;
  detail: string;
  field?: string;
  reason?: string;
  [extra: string]: unknown;
}

export interface Health {
  status: 'ok';
}

export interface Ready {
  status: 'ok' | 'unavailable';
  checks: Record<string, string>;
}

// ---------------------------------------------------------------------------
// Pagination

/** One page of a list; `for await` over it yields its items and then those of every following page. */
export declare class Page<T> implements AsyncIterable<T> {
  private constructor();
  /** The items of this page. */
  readonly data: T[];
  /** Whether the server has more after this page. */
  readonly has_more: boolean;
  hasNextPage(): boolean;
  /** The next page, or null after the last. */
  getNextPage(): Promise<Page<T> | null>;
  /** This page and every following one. */
  iterPages(): AsyncGenerator<Page<T>, void, undefined>;
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined>;
}

/** A Promise of the first page that is also an async iterable over every item of every page. */
export declare class PagePromise<T> extends Promise<Page<T>> implements AsyncIterable<T> {
  private constructor(executor: never);
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined>;
}

// ---------------------------------------------------------------------------
// The client

export interface ClientOptions {
  /** The API's address, such as "http://127.0.0.1:8080". */
  baseUrl: string;
  /** An API key's secret; default: $CALLBACKD_API_KEY. */
  apiKey?: string;
  /** Bounds each HTTP attempt, in milliseconds (default 30000; 0: none). */
  timeoutMs?: number;
  /** How often a failed request is tried again (default 2). */
  maxRetries?: number;
  /** The first retry waits about this long, doubling after (default 500). */
  backoffBaseMs?: number;
  /** The longest backoff (default 8000). */
  backoffMaxMs?: number;
  /** A Retry-After longer than this is not waited for: the error is thrown (default 60000). */
  maxRetryAfterMs?: number;
  /** Put before the client's own User-Agent. */
  userAgent?: string;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /**
   * For a POST: the Idempotency-Key (default: a fresh UUID, reused on the
   * request's retries); false or null sends none.
   */
  idempotencyKey?: string | false | null;
  signal?: AbortSignal;
  timeoutMs?: number;
  maxRetries?: number;
  /** Extra headers; a null or undefined value removes one. */
  headers?: Record<string, string | null | undefined>;
}

export interface RawRequestOptions extends RequestOptions {
  query?: Record<string, string | number | boolean | Date | null | undefined | Array<string | number>>;
  /** Sent as JSON. */
  body?: unknown;
}

export declare class Callbacks {
  private constructor();
  create(params: CallbackCreateParams, options?: RequestOptions): Promise<Callback>;
  get(id: string, options?: RequestOptions): Promise<CallbackDetail>;
  list(params?: CallbackListParams, options?: RequestOptions): PagePromise<Callback>;
  cancel(id: string, options?: RequestOptions): Promise<Callback>;
  events(id: string, params?: EventListParams, options?: RequestOptions): PagePromise<CallbackEvent>;
  /** The deliveries to the callback's own `webhook_url`, newest first. */
  deliveries(id: string, params?: DeliveryListParams, options?: RequestOptions): PagePromise<Delivery>;
  /** Sends one of the callback's `webhook_url` deliveries again, now. */
  retryDelivery(id: string, deliveryId: string, options?: RequestOptions): Promise<Delivery>;
  wait(id: string, options?: WaitOptions): Promise<CallbackDetail>;
}

export declare class Teams {
  private constructor();
  create(params: TeamCreateParams, options?: RequestOptions): Promise<Team>;
  get(id: string, options?: RequestOptions): Promise<Team>;
  list(options?: RequestOptions): PagePromise<Team>;
  update(id: string, changes: TeamUpdateParams, options?: RequestOptions): Promise<Team>;
  delete(id: string, options?: RequestOptions): Promise<void>;
}

export declare class Webhooks {
  private constructor();
  create(params: WebhookCreateParams, options?: RequestOptions): Promise<WebhookCreated>;
  get(id: string, options?: RequestOptions): Promise<Webhook>;
  list(options?: RequestOptions): PagePromise<Webhook>;
  update(id: string, changes: WebhookUpdateParams, options?: RequestOptions): Promise<Webhook>;
  delete(id: string, options?: RequestOptions): Promise<void>;
  /** The endpoint's current signing secret. */
  secret(id: string, options?: RequestOptions): Promise<string>;
  /** The new current secret. */
  rotateSecret(id: string, params?: RotateSecretParams, options?: RequestOptions): Promise<string>;
  deliveries(id: string, params?: DeliveryListParams, options?: RequestOptions): PagePromise<Delivery>;
  retryDelivery(id: string, deliveryId: string, options?: RequestOptions): Promise<Delivery>;
  test(id: string, options?: RequestOptions): Promise<Delivery>;
  /** The secret that signs deliveries to callbacks' own `webhook_url`. */
  callbackSecret(options?: RequestOptions): Promise<string>;
}

export declare class ApiKeys {
  private constructor();
  create(params: ApiKeyCreateParams, options?: RequestOptions): Promise<ApiKeyCreated>;
  list(options?: RequestOptions): PagePromise<ApiKey>;
  revoke(id: string, options?: RequestOptions): Promise<ApiKey>;
}

export declare class Hooks {
  private constructor();
  subscribe(params: SubscriptionCreateParams, options?: RequestOptions): Promise<Subscription>;
  unsubscribe(id: string, options?: RequestOptions): Promise<void>;
  samples(params: SamplesParams, options?: RequestOptions): PagePromise<WebhookEvent>;
}

export declare class Triggers {
  private constructor();
  create(params: TriggerCreateParams, options?: RequestOptions): Promise<TriggerCreated>;
  get(id: string, options?: RequestOptions): Promise<Trigger>;
  list(options?: RequestOptions): PagePromise<Trigger>;
  update(id: string, changes: TriggerUpdateParams, options?: RequestOptions): Promise<Trigger>;
  delete(id: string, options?: RequestOptions): Promise<void>;
  /** The new secret; the old one stops working at once, or works on beside it for `params.overlap`. */
  rotateSecret(id: string, params?: TriggerRotateSecretParams, options?: RequestOptions): Promise<string>;
  /** Sends an application's event to a trigger, authenticated with its secret (no API key). */
  fire(
    trigger: string | (Pick<Trigger, 'id'> & { auth?: TriggerAuth; secret?: string }),
    payload: Record<string, unknown> | string | Uint8Array,
    options?: FireOptions,
  ): Promise<HookResult>;
}

export declare class Client {
  constructor(options: ClientOptions);
  readonly baseUrl: string;
  readonly callbacks: Callbacks;
  readonly teams: Teams;
  readonly webhooks: Webhooks;
  readonly apiKeys: ApiKeys;
  readonly hooks: Hooks;
  readonly triggers: Triggers;
  /** Any request, with the client's authentication, retries and errors; resolves to the decoded JSON. */
  request<T = unknown>(method: string, path: string, options?: RawRequestOptions): Promise<T>;
  health(options?: RequestOptions): Promise<Health>;
  ready(options?: RequestOptions): Promise<Ready>;
  openapi(options?: RequestOptions): Promise<Record<string, unknown>>;
  /** A consistent copy of the store (admin). */
  backup(options?: RequestOptions): Promise<Uint8Array>;
}

/** The states after which a callback changes no more. */
export declare const FINAL_STATUSES: readonly ['completed', 'failed', 'canceled'];
/** Methods retried on a connection failure or 5xx without an Idempotency-Key. */
export declare const IDEMPOTENT_METHODS: ReadonlySet<string>;
/** A fresh Idempotency-Key (a random UUID). */
export declare function newIdempotencyKey(): string;
export declare const VERSION: string;

// ---------------------------------------------------------------------------
// Webhook verification

/** Headers as Node's `req.headers` (any case) or a Headers instance. */
export type WebhookHeaders =
  | Headers
  | { get(name: string): string | null | undefined }
  | Record<string, string | string[] | undefined>;

export type WebhookPayload = string | Uint8Array | ArrayBuffer;

export interface VerifyOptions {
  /** How far the webhook-timestamp may be from now, either way (default 300). */
  toleranceSeconds?: number;
  /** The current time: a Date or Unix seconds (default: now). */
  now?: Date | number;
}

/** 300: the default tolerance, in seconds. */
export declare const DEFAULT_TOLERANCE_SECONDS: number;

/**
 * Verifies a received webhook by the Standard Webhooks scheme against its raw
 * body and returns the decoded body; throws WebhookVerificationError.
 */
export declare function verify(
  payload: WebhookPayload,
  headers: WebhookHeaders,
  secret: string,
  options?: VerifyOptions,
): WebhookEvent;

/** The `v1,<base64>` signature callbackd would send: for tests of a receiver. */
export declare function sign(
  payload: WebhookPayload,
  secret: string,
  options: { id: string; timestamp?: Date | number },
): string;

/** The X-Callbackd-Signature value for a trigger with `auth.mode` hmac_sha256. */
export declare function triggerSignature(secret: string, payload: WebhookPayload): string;

// ---------------------------------------------------------------------------
// Errors

/** "urn:callbackd:problem:" */
export declare const PROBLEM_PREFIX: string;

export type ProblemCode =
  | 'invalid-json'
  | 'unknown-field'
  | 'wrong-type'
  | 'body-too-large'
  | 'unsupported-media-type'
  | 'validation'
  | 'unknown-team'
  | 'destination-not-allowed'
  | 'premium-rate'
  | 'daily-limit'
  | 'rate-limited'
  | 'trigger-disabled'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'conflict'
  | 'idempotency-mismatch'
  | 'idempotency-in-flight'
  | 'draining'
  | 'internal';

/** The base of every error this package throws. */
export declare class CallbackdError extends Error {}

/** The server answered with an error status (an RFC 9457 problem). */
export declare class ApiError extends CallbackdError {
  constructor(init: {
    status: number;
    type?: string;
    title?: string;
    detail?: string;
    field?: string;
    reason?: string;
    problem?: Record<string, unknown>;
    headers?: Headers;
    method?: string;
    url?: string;
  });
  /** The HTTP status. */
  readonly status: number;
  /** "urn:callbackd:problem:<code>" (stable: what to switch on), or "about:blank". */
  readonly type: string;
  /** The type without "urn:callbackd:problem:". */
  readonly code: ProblemCode | (string & {});
  readonly title: string;
  /** What happened this time. */
  readonly detail: string;
  /** The offending input, such as "customer.number" or "Idempotency-Key". */
  readonly field: string | undefined;
  /** The engine's finer code, such as "invalid_number". */
  readonly reason: string | undefined;
  /** The whole problem document (extra members included). */
  readonly problem: Record<string, unknown>;
  /** The response's headers. */
  readonly headers: Headers;
  readonly method: string | undefined;
  readonly url: string | undefined;
  static from(status: number, body: unknown, headers: Headers, method?: string, url?: string): ApiError;
}

/** 400, 413, 415: malformed JSON, an unknown field, a wrong type, a body too large. */
export declare class BadRequestError extends ApiError {}
/** 422: a refused value (`field`, `reason`). */
export declare class ValidationError extends BadRequestError {}
/** 422 idempotency-mismatch: the key was used with another request. */
export declare class IdempotencyMismatchError extends ValidationError {}
/** 401. */
export declare class AuthenticationError extends ApiError {}
/** 403. */
export declare class PermissionDeniedError extends ApiError {}
/** 403 destination-not-allowed or premium-rate. */
export declare class DestinationNotAllowedError extends PermissionDeniedError {}
/** 404. */
export declare class NotFoundError extends ApiError {}
/** 405. */
export declare class MethodNotAllowedError extends ApiError {}
/** 409. */
export declare class ConflictError extends ApiError {}
/** 409 idempotency-in-flight. */
export declare class IdempotencyInFlightError extends ConflictError {}
/** 409 trigger-disabled. */
export declare class TriggerDisabledError extends ConflictError {}
/** 429. */
export declare class RateLimitError extends ApiError {
  /** The server's Retry-After in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;
}
/** 429 daily-limit: not retried. */
export declare class DailyLimitError extends RateLimitError {}
/** 5xx. */
export declare class ServerError extends ApiError {}
/** 503 (draining, or not ready). */
export declare class ServiceUnavailableError extends ServerError {}

/** No HTTP response at all; the original error is `cause`. */
export declare class ApiConnectionError extends CallbackdError {
  constructor(message: string, init?: { cause?: unknown; method?: string; url?: string });
  readonly method: string | undefined;
  readonly url: string | undefined;
}
/** No response within `timeoutMs`. */
export declare class ApiTimeoutError extends ApiConnectionError {}

/** `callbacks.wait` ran out of time; `callback` is the last state seen. */
export declare class WaitTimeoutError extends CallbackdError {
  readonly callback?: CallbackDetail;
}

export type WebhookVerificationErrorCode =
  | 'missing_headers'
  | 'invalid_timestamp'
  | 'timestamp_out_of_tolerance'
  | 'no_matching_signature'
  | 'invalid_secret'
  | 'invalid_payload';

/** A received webhook failed verification. */
export declare class WebhookVerificationError extends CallbackdError {
  constructor(code: WebhookVerificationErrorCode, message: string);
  readonly code: WebhookVerificationErrorCode;
}
