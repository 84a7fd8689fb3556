import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { synthesize } from './main.js';
import { AUTH_SIGNING_KEY_ROTATION, signingKeyPolicyPath, signingKeyTree } from './signing-keys.js';

// Issue 16: deployed as shipped, auth-service could not load its signing keys: the services chart pointed it
// at secret/novapos/signing-keys/novapos/auth-issuer while the example SigningKeyRotation (novapos/auth)
// writes its keys under novapos/auth and the Vault policy grants only that tree. The three must agree.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const example = parse(readFileSync(path.join(repoRoot, 'examples/signingkeyrotation.yaml'), 'utf8')) as {
  metadata: { name: string; namespace: string };
  spec: { vault: { mount: string } };
};

describe("auth-service's signing keys: the chart, the Vault policy and the example agree", () => {
  it('names in the example the SigningKeyRotation the chart defaults to', () => {
    expect(`${example.metadata.namespace}/${example.metadata.name}`).toBe(AUTH_SIGNING_KEY_ROTATION);
  });

  it("points the chart's auth-service at the example SigningKeyRotation's key tree", () => {
    const docs = parseAllDocuments(synthesize()['novapos-services.yaml'] ?? '').map(
      (d) => d.toJS() as { kind: string; metadata: { name: string }; spec?: unknown },
    );
    const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'auth-service') as
      | { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } }
      | undefined;
    expect(deployment, 'the auth-service Deployment').toBeDefined();
    const env = deployment!.spec.template.spec.containers.flatMap((c) => c.env ?? []);
    expect(env.find((e) => e.name === 'SIGNING_KEYSET_PATH')?.value).toBe(
      signingKeyTree(AUTH_SIGNING_KEY_ROTATION, example.spec.vault.mount),
    );
  });

  it("grants auth-service's Vault policy read on exactly that key tree", () => {
    const policy = readFileSync(path.join(repoRoot, 'operator/vault-policies/auth-service.hcl'), 'utf8');
    const paths = [...policy.matchAll(/^path "([^"]+)"/gm)]
      .map((m) => m[1])
      .filter((p) => p?.includes('signing-keys'));
    expect(paths).toEqual([signingKeyPolicyPath(AUTH_SIGNING_KEY_ROTATION, example.spec.vault.mount)]);
  });
});
