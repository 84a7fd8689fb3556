/**
 * What the drill needs from the world, as small interfaces named for the job. The real adapters live in
 * operator/src/adapters/drill/; the controller only sees these. None of them ever returns or logs a secret
 * except `SyntheticCredentials` and `CreatedApiKey.key`, which the runner keeps in memory for one run.
 */

import type { RedisFailureMode } from '../../../../lib/ratelimit-contract.js';

/**
 * A service answered a drill adapter with an error: its HTTP status and error code (never a body, token or
 * key). The steps decide on these (401: a wrong token; `reauthentication_required`: sign in again).
 */
export class ServiceAnswerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The synthetic tenant admin, from the Secret named by spec.syntheticTenant.credentialsSecretRef. */
export interface SyntheticCredentials {
  readonly email: string;
  readonly password: string;
  /** Base32 TOTP secret of the admin's MFA enrollment (API keys need an MFA session). */
  readonly totpSecret?: string;
}

export interface CredentialsSource {
  read(namespace: string, secretName: string): Promise<SyntheticCredentials>;
}

export interface CreatedApiKey {
  readonly id: string;
  readonly prefix: string;
  /** The key itself: shown once by auth-service, kept in memory for this run only. */
  readonly key: string;
}

/** A signed-in synthetic admin, through auth-service's own API. */
export interface SyntheticSession {
  /** The current access token (signed with whatever key was active when it was issued). */
  accessToken(): string;
  /** A new access token through /refresh: signed with the key active now. */
  refresh(): Promise<string>;
  createApiKey(name: string): Promise<CreatedApiKey>;
  /** Every API key of the tenant that is not revoked: id and name (never the key). */
  listApiKeys(): Promise<readonly { id: string; name: string }[]>;
  revokeApiKey(id: string): Promise<void>;
  /** Ends every session of the synthetic admin (this one included). */
  logoutAll(): Promise<void>;
}

export interface SyntheticTenantAdmin {
  signIn(tenant: string, credentials: SyntheticCredentials, signal: AbortSignal): Promise<SyntheticSession>;
}

/** One synthetic request's outcome, as a client saw it. */
export interface TrafficSample {
  /** HTTP status; 0 when the request did not complete (network error, timeout). */
  readonly status: number;
  readonly latencyMs: number;
  /** error.code of the gateway's JSON error envelope, if any. */
  readonly code?: string;
  /** `limiter` of a /api/tenant/ping answer: normal, fail_open, fail_closed, local_fallback. */
  readonly limiter?: string;
  /** What the caller attached to the credential used (e.g. the token's kid). */
  readonly tag?: string;
  readonly at: number;
}

export interface TrafficCredential {
  readonly bearer?: string;
  readonly apiKey?: string;
  readonly tag?: string;
}

export interface TrafficRun {
  readonly tenant: string;
  /** Requests per second; the generator never exceeds it. */
  readonly rps: number;
  readonly durationMs: number;
  readonly signal: AbortSignal;
  readonly credential: () => TrafficCredential;
  readonly onSample: (sample: TrafficSample) => void;
}

/** Synthetic authenticated requests through the gateway at a bounded rate. */
export interface TrafficGenerator {
  /** Resolves when the duration is over (or the signal aborts) and every request has finished. */
  run(opts: TrafficRun): Promise<void>;
}

/** The drill fault key of docs/contracts.md: the gateway treats the tenant as if Redis were down. */
export interface FaultInjector {
  inject(tenant: string, ttlMs: number): Promise<void>;
  clear(tenant: string): Promise<void>;
  isSet(tenant: string): Promise<boolean>;
}

export interface SyntheticLimits {
  readonly tenant: string;
  readonly requestsPerMinute: number;
  readonly redisFailureMode: RedisFailureMode;
  readonly localFallbackRequestsPerMinute?: number;
}

export interface RateLimitView {
  readonly tenant: string;
  readonly redisFailureMode: RedisFailureMode;
  /** Applied=True for the current generation: every gateway replica acknowledged it. */
  readonly applied: boolean;
  readonly appliedMessage?: string;
  /** The label that marks a TenantRateLimit as created by a drill, if present. */
  readonly createdByDrill?: string;
}

/** TenantRateLimit resources, through the Kubernetes API (the TenantRateLimit controller does the rest). */
export interface RateLimits {
  get(namespace: string, name: string): Promise<RateLimitView | undefined>;
  /** Creates (or updates) the synthetic tenant's TenantRateLimit, labelled with the drill's name. */
  ensure(namespace: string, name: string, drill: string, limits: SyntheticLimits): Promise<void>;
  /** Deletes it only if it carries the drill label (never someone else's). */
  deleteIfOwned(namespace: string, name: string, drill: string): Promise<boolean>;
}

export interface RotationView {
  readonly activeKid?: string;
  readonly keysetHash?: string;
  readonly leadTime: string;
  readonly jwksCacheTTL: string;
  /** ServicesLoaded=True for the current generation. */
  readonly servicesLoaded: boolean;
  readonly generation: number;
  /** The lead time to restore after a drill shortened it, if a drill did. */
  readonly leadTimeToRestore?: string;
}

/** A SigningKeyRotation, rotated the normal way (rotate-now annotation) and watched through its status. */
export interface RotationTrigger {
  get(namespace: string, name: string): Promise<RotationView | undefined>;
  rotateNow(namespace: string, name: string, value: string): Promise<void>;
  /** Sets spec.leadTime, remembering the previous value in an annotation on the resource. */
  shortenLeadTime(namespace: string, name: string, leadTime: string): Promise<void>;
  /** Puts the remembered lead time back (nothing when none is remembered). */
  restoreLeadTime(namespace: string, name: string): Promise<boolean>;
}

export interface SyntheticAlert {
  readonly drillNamespace: string;
  readonly drillName: string;
  readonly runId: string;
  /** When the alert stops firing on its own if nobody resolves it. */
  readonly endsAt: Date;
}

export interface AlertDelivery {
  readonly receiver: string;
  /** `refused`: a post naming this run came without the drill webhook's bearer token (receiver unknown). */
  readonly status: 'firing' | 'resolved' | 'refused';
  readonly receivedAt: number;
}

/** Alertmanager's API and the drill receiver's deliveries. */
export interface AlertProbe {
  fire(alert: SyntheticAlert): Promise<void>;
  resolve(alert: SyntheticAlert): Promise<void>;
  /** What reached the operator's drill webhook for this run, oldest first. */
  deliveries(runId: string): Promise<readonly AlertDelivery[]>;
  /** The receivers Alertmanager routed this run's alert to (from its API), for the failure message. */
  routedTo(runId: string): Promise<readonly string[]>;
}

/** Cumulative request counters of the gateway (all replicas), read from its /metrics. */
export interface GatewayCounters {
  readonly requests: number;
  /** 5xx, 401 and 403 answers. */
  readonly errors: number;
}

export interface GatewayHealth {
  counters(): Promise<GatewayCounters>;
}

/** A single value of a Secret (the audit-service admin token), read when a step needs it and kept in memory. */
export interface SecretValues {
  /** The value of `key` in Secret `namespace/name`; an error naming the Secret and key (never the value). */
  read(namespace: string, name: string, key: string): Promise<string>;
}

/** One chained event of the audit log, as the drill needs it: where it is and what it records. */
export interface ChainedEvent {
  readonly seq: number;
  readonly type: string;
  /** `data.api_key_id` of api_key_created / api_key_revoked events. */
  readonly apiKeyId?: string;
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly checked: number;
  readonly firstBroken?: { readonly seq: number; readonly reason: string };
}

/** What the audit-service's /metrics says about its consumer. */
export interface AuditConsumerState {
  /** Records not consumed yet, summed over the chained topics (audit_consumer_lag). */
  readonly lag: number;
  /** The chain's head seq (audit_chain_length). */
  readonly head: number;
  /** audit_consumer_paused. */
  readonly paused: boolean;
}

/**
 * The audit-service's admin port (docs/audit-service.md): pause/resume of its consumer (bearer
 * AUDIT_ADMIN_TOKEN), its metrics, the chained events of a tenant, and `audit verify`. The token is passed
 * in by the step and never appears in an error.
 */
export interface AuditAdmin {
  /** Pauses chaining for at most `seconds`; the audit-service resumes by itself after it. */
  pause(token: string, seconds: number, signal?: AbortSignal): Promise<void>;
  resume(token: string, signal?: AbortSignal): Promise<void>;
  state(signal?: AbortSignal): Promise<AuditConsumerState>;
  /** The tenant's events chained after `afterSeq`, oldest first. */
  chained(token: string, tenant: string, afterSeq: number, signal?: AbortSignal): Promise<ChainedEvent[]>;
  verify(signal?: AbortSignal): Promise<AuditVerification>;
}

export interface DrillAdapters {
  readonly credentials: CredentialsSource;
  readonly tenants: SyntheticTenantAdmin;
  readonly traffic: TrafficGenerator;
  readonly faults: FaultInjector;
  readonly rateLimits: RateLimits;
  readonly rotation: RotationTrigger;
  readonly alerts: AlertProbe;
  readonly gateway: GatewayHealth;
  readonly secrets?: SecretValues;
  /** Undefined when the operator has no DRILL_AUDIT_SERVICE_URL: the auditCatchUp step then fails saying so. */
  readonly audit?: AuditAdmin;
}
