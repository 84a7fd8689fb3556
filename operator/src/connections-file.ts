import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import { Value, type ValueError, ValueErrorType } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { describeError } from '../../lib/errors.js';
import { ConfigError } from '../../lib/service-kit/env.js';
import { LOCAL_VAULT_CONNECTION } from './api/meta.js';

/**
 * The operator's configuration file (OPERATOR_CONNECTIONS_FILE, YAML): the named Vault connections and who
 * may use them for SecretPromotion, the service endpoints a SigningKeyRotation may make the operator call,
 * and which namespace sets the rate limits of which tenant. Its shape is the TypeBox schema below; the
 * checks a schema cannot say (one method's required fields, no token in the file) follow it. Tokens are
 * referenced (tokenFile, tokenEnv, tokenSecret), never written in the file.
 *
 * ```yaml
 * connections:
 *   local:                     # the operator's own Vault (VAULT_ADDR): only its promotion role and policy
 *     auth: { method: kubernetes, role: novapos-operator-promotion }
 *     promotion: { source: true, namespaces: [novapos] }
 *   prod:
 *     address: https://vault.prod.example:8200
 *     auth: { method: kubernetes, role: novapos-operator-promotion }
 *     promotion: { target: true, protected: true, namespaces: [novapos] }
 * keyStatusEndpoints:
 *   serviceNamespaces: [novapos]          # <service>.<namespace>.svc[.cluster.local] of these namespaces
 *   allowedOrigins: ["http://127.0.0.1:8085"]  # anything else, exactly (local development)
 * tenantOwners:
 *   - { namespace: novapos, tenants: [acme, "drill-*"] }
 * ```
 */

/** A bad setting: the message is one line naming the setting and what it must be (never a secret value). */
export { ConfigError };

export const SA_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** auth-service's tenant id shape (TENANT_ID_RE in services/auth-service: lower case, digits, `-`). */
export const TENANT_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
/** A tenant id, or a prefix of one ending in `*`. */
const TENANT_OWNER_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}\\*?$';

const DnsLabel = Type.String({ pattern: DNS_LABEL.source, maxLength: 63, description: 'a DNS label' });
const NonEmpty = Type.String({ minLength: 1 });

const AuthSchema = Type.Object(
  {
    method: Type.Union([Type.Literal('kubernetes'), Type.Literal('token'), Type.Literal('tokenSecret')], {
      description: 'kubernetes, token or tokenSecret',
    }),
    role: Type.Optional(NonEmpty),
    mount: Type.Optional(NonEmpty),
    serviceAccountTokenPath: Type.Optional(NonEmpty),
    tokenFile: Type.Optional(NonEmpty),
    tokenEnv: Type.Optional(NonEmpty),
    /** Refused with a clear message: tokens do not belong in the file. */
    token: Type.Optional(Type.Unknown()),
    name: Type.Optional(NonEmpty),
    key: Type.Optional(NonEmpty),
    namespace: Type.Optional(NonEmpty),
  },
  { additionalProperties: false },
);

/** Who may use a connection in a SecretPromotion. Without it, no promotion may use the connection. */
const PromotionPolicySchema = Type.Object(
  {
    /** May a promotion read from it (spec.source, or an override's valueFrom)? Default false. */
    source: Type.Optional(Type.Boolean()),
    /** May a promotion write to it (spec.targets)? Default false. */
    target: Type.Optional(Type.Boolean()),
    /** The namespaces whose SecretPromotions may use it. */
    namespaces: Type.Array(DnsLabel, { minItems: 1 }),
    /** A protected target always needs an approved plan, whatever spec.requireApproval says. */
    protected: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const ConnectionSchema = Type.Object(
  {
    address: Type.Optional(NonEmpty),
    auth: Type.Optional(AuthSchema),
    caCertFile: Type.Optional(NonEmpty),
    namespace: Type.Optional(NonEmpty),
    promotion: Type.Optional(PromotionPolicySchema),
  },
  { additionalProperties: false },
);

const KeyStatusEndpointsSchema = Type.Object(
  {
    serviceNamespaces: Type.Optional(Type.Array(DnsLabel)),
    allowedOrigins: Type.Optional(Type.Array(Type.String({ pattern: '^https?://[^/?#@]+$' }))),
  },
  { additionalProperties: false },
);

const TenantOwnerSchema = Type.Object(
  {
    namespace: DnsLabel,
    tenants: Type.Array(Type.String({ pattern: TENANT_OWNER_PATTERN }), { minItems: 1 }),
  },
  { additionalProperties: false },
);

export const ConnectionsFileSchema = Type.Object(
  {
    connections: Type.Optional(Type.Record(Type.String(), ConnectionSchema)),
    keyStatusEndpoints: Type.Optional(KeyStatusEndpointsSchema),
    tenantOwners: Type.Optional(Type.Array(TenantOwnerSchema)),
  },
  { additionalProperties: false },
);
type RawFile = Static<typeof ConnectionsFileSchema>;
type RawConnection = Static<typeof ConnectionSchema>;

/** How the operator authenticates to one Vault. */
export type VaultAuth =
  | {
      readonly method: 'kubernetes';
      /** Vault role bound to the operator's ServiceAccount. */
      readonly role: string;
      /** Mount path of the Kubernetes auth method. Default `kubernetes`. */
      readonly mount: string;
      /** Where the projected ServiceAccount token is read from. */
      readonly serviceAccountTokenPath: string;
    }
  | {
      readonly method: 'token';
      /** Read the token from this file... */
      readonly tokenFile?: string;
      /** ...or from this environment variable (never written in the file itself). */
      readonly tokenEnv?: string;
    }
  | {
      /** A token in a Kubernetes Secret (default: the operator's namespace), re-read when Vault refuses it. */
      readonly method: 'tokenSecret';
      readonly name: string;
      /** Default `token`. */
      readonly key?: string;
      readonly namespace?: string;
    };

export interface PromotionPolicy {
  readonly source: boolean;
  readonly target: boolean;
  readonly namespaces: readonly string[];
  readonly protected: boolean;
}

/** A named Vault (SecretPromotion sources and targets refer to it by name). */
export interface VaultConnection {
  readonly name: string;
  /** Absent only for `local`, whose address is VAULT_ADDR. */
  readonly address?: string;
  /** Absent only for `local` in local development (then VAULT_TOKEN is used). */
  readonly auth?: VaultAuth;
  /** PEM file of the CA that signs this Vault's certificate; the system roots when absent. */
  readonly caCertFile?: string;
  /** Vault Enterprise / OpenBao namespace. */
  readonly namespace?: string;
  /** Who may promote from or to it; absent: nobody. */
  readonly promotion?: PromotionPolicy;
}

/** Which URLs a SigningKeyRotation may make the operator call (GET status, POST reload). */
export interface KeyStatusEndpoints {
  /** `<service>.<namespace>.svc[.cluster.local]` names of these namespaces (the resource's own always). */
  readonly serviceNamespaces: readonly string[];
  /** Exact origins (`scheme://host:port`, or `scheme://host:*` for any port) allowed besides, e.g. loopback in local development. */
  readonly allowedOrigins: readonly string[];
}

export interface TenantOwner {
  readonly namespace: string;
  /** Tenant ids, or prefixes ending in `*`. */
  readonly tenants: readonly string[];
}

export interface ConnectionsFile {
  readonly connections: ReadonlyMap<string, VaultConnection>;
  readonly keyStatusEndpoints: KeyStatusEndpoints;
  /** Absent: the file says nothing about tenants (see wiring.ts for what the operator does then). */
  readonly tenantOwners?: readonly TenantOwner[];
}

type Env = Readonly<Record<string, string | undefined>>;
type Fail = (path: string, must: string) => ConfigError;

export const EMPTY_CONNECTIONS_FILE: ConnectionsFile = {
  connections: new Map(),
  keyStatusEndpoints: { serviceNamespaces: [], allowedOrigins: [] },
};

/** Reads and validates the operator's connections file (YAML). */
export function loadConnectionsFile(file: string, env: Env = {}): ConnectionsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `OPERATOR_CONNECTIONS_FILE=${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      `OPERATOR_CONNECTIONS_FILE=${file}: not valid YAML (${describeError(err).split('\n')[0]})`,
    );
  }
  return parseConnectionsFile(
    doc,
    env,
    (path, must) => new ConfigError(`OPERATOR_CONNECTIONS_FILE=${file}: ${path}: ${must}`),
  );
}

const dotted = (pointer: string) =>
  pointer.replace(/^\//, '').split('/').filter(Boolean).join('.') || '(root)';

function problemOf(e: ValueError): [path: string, must: string] {
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    return [dotted(e.path), 'unknown field'];
  }
  if (e.type === ValueErrorType.ObjectRequiredProperty) return [dotted(e.path), 'required'];
  if (e.path.endsWith('/auth/method')) return [dotted(e.path), 'must be kubernetes, token or tokenSecret'];
  const what = e.schema.description ? `must be ${e.schema.description}` : e.message.toLowerCase();
  return [dotted(e.path), what];
}

/** The file's document (parsed YAML) as typed configuration; throws the first problem, with its path. */
export function parseConnectionsFile(doc: unknown, env: Env, fail: Fail): ConnectionsFile {
  if (doc === null || doc === undefined) return EMPTY_CONNECTIONS_FILE;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw fail('(root)', 'must be a mapping');
  const raw = { ...(doc as Record<string, unknown>) };
  if (raw.connections === null) delete raw.connections;
  doc = raw;
  // Names first: a bad name is reported as such, not as a schema error inside it.
  const conns = raw.connections;
  if (conns !== null && conns !== undefined) {
    if (typeof conns !== 'object' || Array.isArray(conns)) throw fail('connections', 'must be a mapping');
    for (const name of Object.keys(conns)) {
      if (!DNS_LABEL.test(name) || name.length > 63)
        throw fail(`connections.${name}`, 'the name must be a lower-case DNS label (e.g. staging, prod)');
      const auth = (conns as Record<string, { auth?: { token?: unknown } }>)[name]?.auth;
      if (auth && typeof auth === 'object' && auth.token !== undefined)
        throw fail(
          `connections.${name}.auth.token`,
          'tokens do not belong in this file: use tokenFile or tokenEnv',
        );
    }
  }
  const first = Value.Errors(ConnectionsFileSchema, doc).First();
  if (first) throw fail(...problemOf(first));
  const file = doc as RawFile;

  const connections = new Map<string, VaultConnection>();
  for (const [name, c] of Object.entries(file.connections ?? {})) {
    connections.set(name, connectionOf(name, c, env, fail));
  }
  const endpoints = file.keyStatusEndpoints;
  return {
    connections,
    keyStatusEndpoints: {
      serviceNamespaces: endpoints?.serviceNamespaces ?? [],
      allowedOrigins: (endpoints?.allowedOrigins ?? []).map((o) =>
        o.endsWith(':*') ? o.toLowerCase() : new URL(o).origin,
      ),
    },
    ...(file.tenantOwners ? { tenantOwners: tenantOwnersOf(file.tenantOwners, fail) } : {}),
  };
}

function connectionOf(name: string, c: RawConnection, env: Env, fail: Fail): VaultConnection {
  const path = `connections.${name}`;
  const local = name === LOCAL_VAULT_CONNECTION;
  if (local && c.address !== undefined)
    throw fail(
      `${path}.address`,
      "the local connection is the operator's own Vault (VAULT_ADDR): leave it out",
    );
  if (!local && !c.address) throw fail(`${path}.address`, 'required');
  if (c.address !== undefined) {
    try {
      const u = new URL(c.address);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      throw fail(`${path}.address`, 'must be an http(s) URL');
    }
  }
  if (!local && !c.auth) throw fail(`${path}.auth`, 'required');
  const p = c.promotion;
  return {
    name,
    ...(c.address ? { address: c.address.trim().replace(/\/+$/, '') } : {}),
    ...(c.auth ? { auth: authOf(c.auth, `${path}.auth`, env, fail) } : {}),
    ...(c.caCertFile ? { caCertFile: c.caCertFile } : {}),
    ...(c.namespace ? { namespace: c.namespace } : {}),
    ...(p
      ? {
          promotion: {
            source: p.source ?? false,
            target: p.target ?? false,
            namespaces: p.namespaces,
            protected: p.protected ?? false,
          },
        }
      : {}),
  };
}

function authOf(a: NonNullable<RawConnection['auth']>, path: string, env: Env, fail: Fail): VaultAuth {
  if (a.method === 'kubernetes') {
    if (!a.role) throw fail(`${path}.role`, 'required for the kubernetes method');
    return {
      method: 'kubernetes',
      role: a.role,
      mount: a.mount ?? 'kubernetes',
      serviceAccountTokenPath: a.serviceAccountTokenPath ?? SA_TOKEN_PATH,
    };
  }
  if (a.method === 'token') {
    if (!a.tokenFile === !a.tokenEnv)
      throw fail(path, 'the token method needs exactly one of tokenFile or tokenEnv');
    if (a.tokenEnv && !env[a.tokenEnv])
      throw fail(`${path}.tokenEnv`, `environment variable ${a.tokenEnv} is not set`);
    return {
      method: 'token',
      ...(a.tokenFile ? { tokenFile: a.tokenFile } : {}),
      ...(a.tokenEnv ? { tokenEnv: a.tokenEnv } : {}),
    };
  }
  if (!a.name)
    throw fail(`${path}.name`, 'required for the tokenSecret method (the Secret holding the token)');
  return {
    method: 'tokenSecret',
    name: a.name,
    ...(a.key ? { key: a.key } : {}),
    ...(a.namespace ? { namespace: a.namespace } : {}),
  };
}

function tenantOwnersOf(owners: RawFile['tenantOwners'] & object, fail: Fail): TenantOwner[] {
  const seen = new Map<string, string>();
  owners.forEach((o, i) => {
    for (const t of o.tenants) {
      const other = seen.get(t);
      if (other !== undefined && other !== o.namespace)
        throw fail(
          `tenantOwners.${i}.tenants`,
          `"${t}" is already owned by namespace ${other}: one owner per tenant`,
        );
      seen.set(t, o.namespace);
    }
  });
  return owners.map((o) => ({ namespace: o.namespace, tenants: o.tenants }));
}
