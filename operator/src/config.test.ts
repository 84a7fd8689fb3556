import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from './config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'operator-config-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    // The service kit's ConfigError (lib/service-kit/env.ts): one class for the operator and the services.
    expect(err).toMatchObject({ code: 'invalid_config' });
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configFromEnv', () => {
  it('has the documented defaults', () => {
    const c = configFromEnv({ POD_NAME: 'op-0', POD_NAMESPACE: 'novapos-system' });
    expect(c).toMatchObject({
      watchNamespaces: [],
      identity: 'op-0',
      metricsPort: 8080,
      probesPort: 8081,
      logLevel: 'info',
      resyncPeriodMs: 600_000,
      maxConcurrentReconciles: 16,
      reconcileRateLimit: { ratePerSecond: 500, burst: 1000 },
      kubeThrottle: { maxRetries: 10, maxWaitMs: 30_000 },
      shutdownTimeoutMs: 30_000,
      leaderElection: {
        enabled: true,
        leaseName: 'novapos-operator',
        leaseNamespace: 'novapos-system',
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
      },
    });
    expect(c.vault).toBeUndefined();
    expect(c.connections.size).toBe(0);
  });

  it('reads every setting, and command-line flags win over the environment', () => {
    const c = configFromEnv(
      {
        OPERATOR_WATCH_NAMESPACES: 'team-a, team-b',
        OPERATOR_LEADER_ELECT: 'false',
        OPERATOR_LEASE_DURATION: '30s',
        OPERATOR_RENEW_DEADLINE: '20s',
        OPERATOR_RETRY_PERIOD: '500ms',
        OPERATOR_METRICS_PORT: '9090',
        LOG_LEVEL: 'debug',
        VAULT_ADDR: 'http://127.0.0.1:8200/',
        VAULT_TOKEN: 'dev-root',
      },
      ['--metrics-port=0', '--probes-port=0', '--namespace=team-c', '--namespace=team-d'],
    );
    expect(c.watchNamespaces).toEqual(['team-c', 'team-d']);
    expect(c.leaderElection).toMatchObject({
      enabled: false,
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 500,
    });
    expect([c.metricsPort, c.probesPort, c.logLevel]).toEqual([0, 0, 'debug']);
    expect(c.vault).toMatchObject({
      address: 'http://127.0.0.1:8200',
      token: 'dev-root',
      auth: { method: 'token' },
    });
  });

  it('uses Vault Kubernetes auth when a role is given', () => {
    const c = configFromEnv({ VAULT_ADDR: 'https://vault:8200', VAULT_KUBERNETES_ROLE: 'novapos-operator' });
    expect(c.vault?.auth).toEqual({
      method: 'kubernetes',
      role: 'novapos-operator',
      mount: 'kubernetes',
      serviceAccountTokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    });
  });

  it.each([
    [{ OPERATOR_METRICS_PORT: 'abc' }, 'OPERATOR_METRICS_PORT=abc: must be a port number 0-65535'],
    [{ OPERATOR_PROBES_PORT: '70000' }, 'OPERATOR_PROBES_PORT=70000: must be a port number 0-65535'],
    [
      { OPERATOR_METRICS_PORT: '9000', OPERATOR_PROBES_PORT: '9000' },
      'OPERATOR_METRICS_PORT and OPERATOR_PROBES_PORT: must differ (both 9000)',
    ],
    [{ OPERATOR_LEADER_ELECT: 'maybe' }, 'OPERATOR_LEADER_ELECT=maybe: must be true or false'],
    [
      { OPERATOR_RESYNC_PERIOD: '10 minutes' },
      'OPERATOR_RESYNC_PERIOD=10 minutes: must be a duration like 90s, 15m or 1h',
    ],
    [{ OPERATOR_RENEW_DEADLINE: '20s' }, 'must satisfy lease duration > renew deadline > retry period'],
    [{ OPERATOR_WATCH_NAMESPACES: 'ok,Not_OK' }, '"Not_OK" is not a namespace name'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL=loud: must be one of trace, debug, info, warn, error, fatal'],
    [
      { OPERATOR_RECONCILE_QPS: '-1' },
      'OPERATOR_RECONCILE_QPS=-1: must be a number, 0 or more (0: no limit)',
    ],
    [
      { OPERATOR_KUBE_MAX_RETRIES: '2.5' },
      'OPERATOR_KUBE_MAX_RETRIES=2.5: must be a whole number, 0 or more',
    ],
    [{ OPERATOR_KUBE_MAX_RETRY_WAIT: 'soon' }, 'OPERATOR_KUBE_MAX_RETRY_WAIT=soon: must be a duration'],
    [{ VAULT_ADDR: 'vault:8200', VAULT_TOKEN: 't' }, 'VAULT_ADDR=vault:8200: must be an http(s) URL'],
    [
      { VAULT_ADDR: 'http://v:8200' },
      'VAULT_ADDR: needs VAULT_KUBERNETES_ROLE (in a cluster) or VAULT_TOKEN (local development)',
    ],
    [{ VAULT_TOKEN: 'hvs.secret' }, 'VAULT_ADDR: must be set when VAULT_TOKEN or VAULT_KUBERNETES_ROLE is'],
  ])('rejects %j with one clear line', (env, message) => {
    const m = errorOf(() => configFromEnv(env));
    expect(m).toContain(message);
    expect(m).not.toContain('\n');
  });

  it('turns the work-queue limit off with OPERATOR_RECONCILE_QPS=0 and derives the burst from a set rate', () => {
    expect(configFromEnv({ OPERATOR_RECONCILE_QPS: '0' }).reconcileRateLimit).toBe(false);
    expect(configFromEnv({ OPERATOR_RECONCILE_QPS: '40' }).reconcileRateLimit).toEqual({
      ratePerSecond: 40,
      burst: 80,
    });
    expect(
      configFromEnv({ OPERATOR_RECONCILE_QPS: '40', OPERATOR_RECONCILE_BURST: '5' }).reconcileRateLimit,
    ).toEqual({ ratePerSecond: 40, burst: 5 });
    expect(
      configFromEnv({ OPERATOR_KUBE_MAX_RETRIES: '0', OPERATOR_KUBE_MAX_RETRY_WAIT: '5s' }).kubeThrottle,
    ).toEqual({ maxRetries: 0, maxWaitMs: 5_000 });
  });

  it('never repeats a Vault token in an error', () => {
    const m = errorOf(() =>
      configFromEnv({
        VAULT_ADDR: 'http://v:8200',
        VAULT_TOKEN: 'hvs.super-secret',
        VAULT_KUBERNETES_ROLE: 'r',
      }),
    );
    expect(m).not.toContain('hvs.super-secret');
  });

  it('rejects an unknown command-line flag', () => {
    expect(errorOf(() => configFromEnv({}, ['--metrics-prot=1']))).toMatch(/^command line: /);
  });
});

describe('the Vault connections file', () => {
  it('parses named connections with defaults', () => {
    const p = file(
      'ok.yaml',
      `connections:
  staging:
    address: https://vault.staging.example:8200/
    caCertFile: /etc/novapos/vault-ca/staging.pem
    auth: { method: kubernetes, role: novapos-operator }
  prod:
    address: https://vault.prod.example:8200
    namespace: novapos
    auth: { method: token, tokenEnv: PROD_VAULT_TOKEN }
`,
    );
    const c = configFromEnv({ OPERATOR_CONNECTIONS_FILE: p, PROD_VAULT_TOKEN: 'x' });
    expect([...c.connections.keys()]).toEqual(['staging', 'prod']);
    expect(c.connections.get('staging')).toEqual({
      name: 'staging',
      address: 'https://vault.staging.example:8200',
      caCertFile: '/etc/novapos/vault-ca/staging.pem',
      auth: {
        method: 'kubernetes',
        role: 'novapos-operator',
        mount: 'kubernetes',
        serviceAccountTokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      },
    });
    expect(c.connections.get('prod')).toMatchObject({
      namespace: 'novapos',
      auth: { method: 'token', tokenEnv: 'PROD_VAULT_TOKEN' },
    });
  });

  it.each([
    [
      'no-role.yaml',
      'connections:\n  staging: { address: "https://v", auth: { method: kubernetes } }\n',
      'connections.staging.auth.role: required for the kubernetes method',
    ],
    [
      'literal.yaml',
      'connections:\n  prod: { address: "https://v", auth: { method: token, token: hvs.abc } }\n',
      'connections.prod.auth.token: tokens do not belong in this file',
    ],
    [
      'typo.yaml',
      'connections:\n  prod: { adress: "https://v" }\n',
      'connections.prod.adress: unknown field',
    ],
    [
      'bad-url.yaml',
      'connections:\n  prod: { address: "vault:8200", auth: { method: kubernetes, role: r } }\n',
      'connections.prod.address: must be an http(s) URL',
    ],
    [
      'bad-name.yaml',
      'connections:\n  Prod_1: { address: "https://v", auth: { method: kubernetes, role: r } }\n',
      'connections.Prod_1: the name must be a lower-case DNS label',
    ],
    [
      'method.yaml',
      'connections:\n  prod: { address: "https://v", auth: { method: ldap } }\n',
      'connections.prod.auth.method: must be kubernetes, token or tokenSecret',
    ],
    [
      'env.yaml',
      'connections:\n  prod: { address: "https://v", auth: { method: token, tokenEnv: NOPE_TOKEN } }\n',
      'environment variable NOPE_TOKEN is not set',
    ],
    ['yaml.yaml', 'connections: [unclosed\n', 'not valid YAML'],
  ])('%s: says what is wrong, where', (name, text, message) => {
    const p = file(name, text);
    const m = errorOf(() => configFromEnv({ OPERATOR_CONNECTIONS_FILE: p }));
    expect(m).toContain(`OPERATOR_CONNECTIONS_FILE=${p}: `);
    expect(m).toContain(message);
    expect(m).not.toContain('hvs.abc');
  });

  it('says when the file cannot be read', () => {
    expect(errorOf(() => configFromEnv({ OPERATOR_CONNECTIONS_FILE: '/nonexistent/connections.yaml' }))).toBe(
      'OPERATOR_CONNECTIONS_FILE=/nonexistent/connections.yaml: cannot read it (ENOENT)',
    );
  });

  it("runs without the file when OPERATOR_CONNECTIONS_FILE_OPTIONAL is set and it is absent (the chart's optional Secret volume), and says so", () => {
    const env = {
      OPERATOR_CONNECTIONS_FILE: '/nonexistent/connections.yaml',
      OPERATOR_CONNECTIONS_FILE_OPTIONAL: 'true',
    };
    const c = configFromEnv(env);
    expect(c.connectionsFileAbsent).toBe(true);
    expect(c.connections.size).toBe(0);
    expect(c.file.tenantOwners).toBeUndefined();
    // Present, it is read and checked as ever: optional is about absence, never about a bad file.
    const p = file(
      'optional-ok.yaml',
      'connections:\n  staging: { address: "https://v", auth: { method: kubernetes, role: r } }\n',
    );
    const read = configFromEnv({ ...env, OPERATOR_CONNECTIONS_FILE: p });
    expect(read.connectionsFileAbsent).toBe(false);
    expect([...read.connections.keys()]).toEqual(['staging']);
    const bad = file('optional-bad.yaml', 'connections: [unclosed\n');
    expect(errorOf(() => configFromEnv({ ...env, OPERATOR_CONNECTIONS_FILE: bad }))).toContain(
      'not valid YAML',
    );
    expect(errorOf(() => configFromEnv({ ...env, OPERATOR_CONNECTIONS_FILE_OPTIONAL: 'maybe' }))).toContain(
      'OPERATOR_CONNECTIONS_FILE_OPTIONAL',
    );
  });
});

describe('what the controllers need from the configuration', () => {
  it('takes the operator namespace from POD_NAMESPACE, defaulting to novapos-system', () => {
    expect(configFromEnv({}).operatorNamespace).toBe('novapos-system');
    expect(configFromEnv({ POD_NAMESPACE: 'security' }).operatorNamespace).toBe('security');
    expect(() => configFromEnv({ POD_NAMESPACE: 'Not_A_Namespace' })).toThrow(/NAMESPACE=Not_A_Namespace/);
  });

  it('accepts a redis:// REDIS_URL and rejects anything else without echoing it (it may hold a password)', () => {
    expect(configFromEnv({ REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl).toBe('redis://127.0.0.1:6379');
    const attempt = () => configFromEnv({ REDIS_URL: 'http://user:hunter2@redis' });
    expect(attempt).toThrow(/REDIS_URL: must be a redis/);
    expect(attempt).not.toThrow(/hunter2/);
  });

  it('reads a connection whose token is in a Kubernetes Secret', () => {
    const p = file(
      'secret.yaml',
      'connections:\n  prod:\n    address: https://vault.prod.example:8200\n    auth: { method: tokenSecret, name: prod-vault-token, key: token }\n',
    );
    expect(configFromEnv({ OPERATOR_CONNECTIONS_FILE: p }).connections.get('prod')?.auth).toEqual({
      method: 'tokenSecret',
      name: 'prod-vault-token',
      key: 'token',
    });
    const missing = file(
      'secret-noname.yaml',
      'connections:\n  prod: { address: "https://v", auth: { method: tokenSecret } }\n',
    );
    expect(() => configFromEnv({ OPERATOR_CONNECTIONS_FILE: missing })).toThrow(
      /connections.prod.auth.name: required/,
    );
  });
});

describe('the promotion policy, allowed endpoints and tenant owners in the connections file', () => {
  it("reads each connection's promotion policy with its defaults (neither source nor target, not protected)", () => {
    const p = file(
      'policy.yaml',
      `connections:
  local:
    promotion: { source: true, namespaces: [novapos] }
  staging:
    address: https://vault.staging.example:8200
    auth: { method: kubernetes, role: novapos-operator-promotion }
    promotion: { target: true, namespaces: [novapos, team-a] }
  prod:
    address: https://vault.prod.example:8200
    auth: { method: kubernetes, role: novapos-operator-promotion }
    promotion: { target: true, protected: true, namespaces: [novapos] }
  audit:
    address: https://vault.audit.example:8200
    auth: { method: kubernetes, role: novapos-operator-promotion }
`,
    );
    const c = configFromEnv({ OPERATOR_CONNECTIONS_FILE: p, VAULT_ADDR: 'http://v:8200', VAULT_TOKEN: 't' });
    expect(c.connections.get('local')?.promotion).toEqual({
      source: true,
      target: false,
      namespaces: ['novapos'],
      protected: false,
    });
    expect(c.connections.get('prod')?.promotion).toMatchObject({ target: true, protected: true });
    expect(c.connections.get('audit')?.promotion).toBeUndefined();
  });

  it("refuses a local connection that would log in with the signing-key rotation's Vault role", () => {
    const same = file(
      'same-role.yaml',
      'connections:\n  local:\n    auth: { method: kubernetes, role: novapos-operator }\n    promotion: { source: true, namespaces: [novapos] }\n',
    );
    const env = { VAULT_ADDR: 'https://vault:8200', VAULT_KUBERNETES_ROLE: 'novapos-operator' };
    expect(errorOf(() => configFromEnv({ ...env, OPERATOR_CONNECTIONS_FILE: same }))).toContain(
      'connections.local.auth.role: must not be VAULT_KUBERNETES_ROLE (novapos-operator)',
    );
    const none = file(
      'no-auth.yaml',
      'connections:\n  local:\n    promotion: { source: true, namespaces: [novapos] }\n',
    );
    expect(errorOf(() => configFromEnv({ ...env, OPERATOR_CONNECTIONS_FILE: none }))).toContain(
      'connections.local.auth: required with VAULT_KUBERNETES_ROLE',
    );
    const address = file('local-address.yaml', 'connections:\n  local: { address: "https://elsewhere" }\n');
    expect(errorOf(() => configFromEnv({ OPERATOR_CONNECTIONS_FILE: address }))).toContain(
      'connections.local.address',
    );
  });

  it.each([
    [
      'ns.yaml',
      'connections:\n  prod: { address: "https://v", auth: { method: kubernetes, role: r }, promotion: { target: true, namespaces: [Team_A] } }\n',
      'connections.prod.promotion.namespaces.0: must be a DNS label',
    ],
    [
      'empty-ns.yaml',
      'connections:\n  prod: { address: "https://v", auth: { method: kubernetes, role: r }, promotion: { target: true, namespaces: [] } }\n',
      'connections.prod.promotion.namespaces',
    ],
    [
      'typo-policy.yaml',
      'connections:\n  prod: { address: "https://v", auth: { method: kubernetes, role: r }, promotion: { targt: true, namespaces: [a] } }\n',
      'connections.prod.promotion.targt: unknown field',
    ],
    [
      'origin.yaml',
      'keyStatusEndpoints: { allowedOrigins: ["http://127.0.0.1:8085/keys/status"] }\n',
      'keyStatusEndpoints.allowedOrigins.0',
    ],
    ['tenant.yaml', 'tenantOwners: [{ namespace: novapos, tenants: [Acme] }]\n', 'tenantOwners.0.tenants.0'],
    [
      'two-owners.yaml',
      'tenantOwners: [{ namespace: a, tenants: [acme] }, { namespace: b, tenants: [acme] }]\n',
      '"acme" is already owned by namespace a',
    ],
  ])('%s: says what is wrong, where', (name, text, message) => {
    const p = file(name, text);
    expect(errorOf(() => configFromEnv({ OPERATOR_CONNECTIONS_FILE: p }))).toContain(message);
  });

  it('reads the allowed key-status endpoints and the tenant owners', () => {
    const p = file(
      'rest.yaml',
      'keyStatusEndpoints: { serviceNamespaces: [novapos], allowedOrigins: ["http://127.0.0.1:8085"] }\ntenantOwners: [{ namespace: novapos, tenants: [acme, "drill-*"] }]\n',
    );
    const c = configFromEnv({ OPERATOR_CONNECTIONS_FILE: p });
    expect(c.file.keyStatusEndpoints).toEqual({
      serviceNamespaces: ['novapos'],
      allowedOrigins: ['http://127.0.0.1:8085'],
    });
    expect(c.file.tenantOwners).toEqual([{ namespace: 'novapos', tenants: ['acme', 'drill-*'] }]);
    expect(configFromEnv({}).file).toEqual({
      keyStatusEndpoints: { serviceNamespaces: [], allowedOrigins: [] },
      tenantOwners: undefined,
    });
  });
});
