/**
 * One schema per security event type (issue 20; docs/contracts.md "Event types"): the topic it goes to, its
 * schema version, the envelope `outcome` values it uses and the fields of its `data`. The producer validates
 * every event against this before it is stored in the outbox (lib/kafka-events.ts): an event of an unknown
 * type, on the wrong topic or with a field not listed here is refused, so what consumers read is what this
 * file (and the table generated from it in docs/contracts.md) says.
 */
import { type Static, type TObject, type TProperties, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { SECURITY_TOPICS } from './kafka-topics.js';

type TopicKey = keyof typeof SECURITY_TOPICS;

export interface EventTypeSpec {
  readonly topic: TopicKey;
  readonly version: number;
  readonly producer: 'auth-service' | 'integration-gateway';
  readonly description: string;
  readonly data: TObject;
}

const Id = Type.String({ minLength: 1, maxLength: 128 });
const Count = Type.Integer({ minimum: 0 });
/** What every auth-service event carries in `data`: the request it came from. */
const request = {
  request_id: Type.String({ maxLength: 128 }),
  ip: Type.String({ maxLength: 64 }),
};
const auth = (props: TProperties = {}) =>
  Type.Object({ ...request, ...props }, { additionalProperties: false });
const route = { route: Type.Optional(Type.String({ maxLength: 64 })) };
const alert = Type.Object(
  {
    severity: Type.Union([Type.Literal('critical'), Type.Literal('warning')]),
    description: Type.String({ maxLength: 256 }),
    count: Count,
    threshold: Count,
    window_seconds: Count,
    source: Id,
    detected_at: Type.String({ maxLength: 40 }),
  },
  { additionalProperties: false },
);

const a = (description: string, data: TObject, topic: TopicKey = 'audit'): EventTypeSpec => ({
  topic,
  version: 1,
  producer: 'auth-service',
  description,
  data,
});
const m = (description: string, data: TObject = auth()): EventTypeSpec => a(description, data, 'mfaActivity');

export const EVENT_TYPES = {
  // audit.events.v1 — sign-in outcomes, sessions, admin actions, API keys (auth-service)
  login_succeeded: a(
    'a sign-in succeeded; `amr` says how',
    auth({ amr: Type.Array(Type.String({ maxLength: 16 })) }),
  ),
  login_failed: a('wrong email or password (or unknown tenant: same answer)', auth()),
  login_locked: a('a sign-in refused because the account is locked', auth()),
  account_locked: a(
    'failures locked an account (scope `address`: from one address; `account`: everywhere)',
    auth({
      scope: Type.Union([Type.Literal('address'), Type.Literal('account')]),
      failures: Count,
      lock_seconds: Count,
    }),
  ),
  suspicious_login: a(
    'a suspicious-login rule fired (`rule`: success after failures, password spraying)',
    auth({ rule: Id, failures: Type.Optional(Count), accounts: Type.Optional(Count) }),
  ),
  logout: a('a session (refresh token family) ended by its owner', auth({ family_id: Id })),
  session_bulk_revocation: a('every session of the user ended (logout-all)', auth({ revoked: Count })),
  refresh_token_reuse_within_interval: a(
    'a refresh token presented again within the reuse interval: one more successor',
    auth({ family_id: Id }),
  ),
  refresh_token_reuse_detected: a(
    'a used refresh token presented again: its family is revoked',
    auth({ family_id: Id, revoked: Count }),
  ),
  user_registered: a(
    'a user was created (outcome `first_admin` or `created`)',
    auth({ created_user_id: Type.Optional(Id) }),
  ),
  user_roles_changed: a(
    'an admin changed a user’s roles',
    auth({ target_user_id: Id, new_roles: Type.Array(Type.String({ maxLength: 32 })) }),
  ),
  user_deleted: a('an admin deleted a user', auth({ target_user_id: Id })),
  tenant_settings_changed: a('an admin changed the tenant’s settings', auth({ require_mfa: Type.Boolean() })),
  password_changed: a('the user changed the password; sessions ended', auth({ revoked_sessions: Count })),
  password_change_failed: a('a password change was refused (outcome says why)', auth()),
  api_key_created: a('an admin created an API key', auth({ key_prefix: Id, api_key_id: Id })),
  api_key_revoked: a('an admin revoked an API key', auth({ api_key_id: Id })),
  // security.mfa.activity — MFA enrollment, failures, bypass attempts, recovery use (auth-service)
  mfa_challenge: m('a sign-in needs the second factor'),
  mfa_verified: m('the second factor was accepted (outcome `success` or `recovery_code_used`)'),
  mfa_failed: m('a second factor was refused (outcome: `mfa_invalid`, `replay`, `locked`...)', auth(route)),
  mfa_bypass_attempt: m('a privileged action or refresh without MFA where it is required', auth(route)),
  mfa_enrollment_required: m('a sign-in got an enrollment-only token: MFA must be set up first'),
  mfa_enrollment_started: m('an authenticator enrollment began'),
  mfa_enrollment_refused: m('an enrollment was refused: another is pending'),
  mfa_enrolled: m('MFA enrolled; recovery codes issued'),
  mfa_recovery_codes_regenerated: m('the recovery codes were replaced', auth({ count: Count })),
  mfa_disable_refused: m('turning MFA off was refused by policy'),
  mfa_disabled: m('MFA turned off; sessions ended', auth({ revoked_sessions: Count })),
  // audit.events.v1 — the gateway's hourly API key usage summary
  api_key_usage_summary: {
    topic: 'audit',
    version: 1,
    producer: 'integration-gateway',
    description: 'requests of one API key in the last summary window (hourly)',
    data: Type.Object(
      {
        key_prefix: Id,
        api_key_id: Id,
        requests: Count,
        rejected: Count,
        window_start: Type.String({ maxLength: 40 }),
        window_end: Type.String({ maxLength: 40 }),
        last_seen_at: Type.String({ maxLength: 40 }),
        replica_id: Id,
      },
      { additionalProperties: false },
    ),
  },
  // audit.events.v1 — partner webhooks the gateway verified (seed 001: partner activity)
  partner_webhook_received: {
    topic: 'audit',
    version: 1,
    producer: 'integration-gateway',
    description:
      'a partner webhook with a valid signature, in its time window, first seen (outcome `forwarded` or `accepted`); the body is not kept',
    data: Type.Object(
      {
        partner: Type.String({ maxLength: 63 }),
        event_id: Id,
        event_type: Type.String({ maxLength: 64 }),
        created_at: Type.String({ maxLength: 40 }),
        request_id: Type.String({ maxLength: 128 }),
      },
      { additionalProperties: false },
    ),
  },
  // security.alerts.v1 — the gateway's security alerts (lib/security-alerts.ts)
  gateway_signature_failures: {
    topic: 'alerts',
    version: 1,
    producer: 'integration-gateway',
    description: 'bearer tokens with a forged, tampered or foreign signature above the threshold',
    data: alert,
  },
  gateway_auth_failures: {
    topic: 'alerts',
    version: 1,
    producer: 'integration-gateway',
    description: 'failed authentications above the threshold',
    data: alert,
  },
} as const satisfies Record<string, EventTypeSpec>;

export type EventType = keyof typeof EVENT_TYPES;
export type EventData<T extends EventType> = Static<(typeof EVENT_TYPES)[T]['data']>;

const compiled = new Map(
  Object.entries(EVENT_TYPES).map(([type, spec]) => [type, TypeCompiler.Compile(spec.data)]),
);

/**
 * Why an event may not be published (undefined when it may): an unknown type, the wrong topic (the topic's
 * configured name, `SECURITY_*_TOPIC`, is matched through `topicNames`), or fields that do not match.
 */
export function eventProblem(type: string, topic: string, data: unknown): string | undefined {
  const spec = (EVENT_TYPES as Record<string, EventTypeSpec>)[type];
  const check = compiled.get(type);
  if (!spec || !check) return `unknown event type ${type}`;
  // A topic renamed by SECURITY_*_TOPIC is not known here; one of the other kinds' default names is wrong.
  const other = (Object.keys(SECURITY_TOPICS) as TopicKey[]).find(
    (k) => k !== spec.topic && SECURITY_TOPICS[k].name === topic,
  );
  if (other) return `${type} belongs on ${SECURITY_TOPICS[spec.topic].name}, not ${topic}`;
  const first = check.Errors(data).First();
  return first ? `${type}: ${first.path || '/'} ${first.message}` : undefined;
}

export function schemaVersion(type: string): number {
  return (EVENT_TYPES as Record<string, EventTypeSpec>)[type]?.version ?? 1;
}

/** The Markdown table of docs/contracts.md "Event types" (a unit test keeps the two equal). */
export function eventTypesTable(): string {
  const rows = Object.entries(EVENT_TYPES as Record<string, EventTypeSpec>).map(([type, spec]) => {
    const fields = Object.entries(spec.data.properties)
      .filter(([name]) => !(name in request) || spec.producer !== 'auth-service')
      .map(([name]) => `\`${name}\`${spec.data.required?.includes(name) ? '' : '?'}`)
      .join(', ');
    return `| \`${type}\` | \`${SECURITY_TOPICS[spec.topic].name}\` | ${spec.producer} | ${spec.version} | ${fields || '—'} | ${spec.description} |`;
  });
  return [
    '| type | topic | producer | version | `data` fields (besides `request_id`, `ip` of auth-service events; `?` optional) | meaning |',
    '| --- | --- | --- | ---: | --- | --- |',
    ...rows,
  ].join('\n');
}
