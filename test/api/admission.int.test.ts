import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotations, APPROVERS_GROUP } from '../../operator/src/api/meta.js';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import {
  type Doc,
  examples,
  type Kubectl,
  kubectlAs,
  repoRoot,
  secretPromotionEditorsRbac,
  yaml,
} from './kubectl.js';

/**
 * The SecretPromotion admission policies (operator/admission/) in a real kube-apiserver 1.36, with users
 * known by token: alice and bob approve, mallory edits promotions but is not an approver. The approver is
 * taken from the request's user, never from what someone typed. A private apiserver: the policies are
 * cluster-wide and would change what other suites see.
 */

const users = [
  { name: 'alice', token: `alice-${process.pid}`, groups: [APPROVERS_GROUP] },
  { name: 'bob', token: `bob-${process.pid}`, groups: [APPROVERS_GROUP] },
  { name: 'mallory', token: `mallory-${process.pid}`, groups: ['novapos:engineers'] },
];
const ns = 'promotions';
const APPROVE = Annotations.approvePlan;
const BY = Annotations.approvedBy;

let env: Env;
let admin: Kubectl;
const as: Record<string, Kubectl> = {};
let example: Doc;

async function annotations(name: string): Promise<Record<string, string>> {
  const obj = JSON.parse(await admin(['get', 'spromo', name, '-n', ns, '-o', 'json']));
  return obj.metadata.annotations ?? {};
}

/** `kubectl annotate --overwrite` as `user`; `key-` removes. */
const annotate = (user: string, name: string, ...pairs: string[]) =>
  as[user]!(['annotate', '--overwrite', 'spromo', name, '-n', ns, ...pairs]);

function promotion(name: string, extra: Record<string, string> = {}): Doc {
  const doc = structuredClone(example);
  doc.metadata.name = name;
  doc.metadata.annotations = extra;
  return doc;
}

beforeAll(async () => {
  env = await startEnv({ label: 'api-admission', kube: { users } });
  const kube = env.kube!;
  admin = kubectlAs(kube.kubectlPath, kube.kubeconfig);
  for (const u of users) as[u.name] = kubectlAs(kube.kubectlPath, kube.kubeconfigFor(u.name));
  example = examples(ns).get('SecretPromotion')!;
  await admin(['create', 'namespace', ns]);
  await admin(['apply', '-f', '-'], secretPromotionEditorsRbac);
  await admin(['apply', '--server-side', '-f', path.join(repoRoot, 'operator/admission')]);
  await kube.waitUntilServed();
  // Policies take effect asynchronously: wait until a fresh approval gets stamped.
  await admin(['apply', '--server-side', '-f', '-'], yaml(promotion('probe')));
  let n = 0;
  await waitUntil(
    'the approved-by policy to stamp approvals',
    async () => {
      await annotate('alice', 'probe', `${APPROVE}=probe-${++n}`);
      return (await annotations('probe'))[BY] === 'alice';
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  await waitUntil(
    'the approvers-only policy to reject a non-approver',
    () =>
      annotate('mallory', 'probe', `${APPROVE}=probe-mallory-${++n}`).then(
        () => false,
        (e: Error) => /only members of/.test(e.message),
      ),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

describe('the admission policies', () => {
  it('are accepted by the apiserver and type-check without warnings', async () => {
    const policies = JSON.parse(
      await admin(['get', 'mutatingadmissionpolicies,validatingadmissionpolicies', '-o', 'json']),
    ) as { items: { kind: string; status?: { typeChecking?: { expressionWarnings?: unknown[] } } }[] };
    expect(policies.items.map((p) => p.kind).sort()).toEqual([
      'MutatingAdmissionPolicy',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicy',
    ]);
    for (const p of policies.items) expect(p.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
  });
});

describe('who approved a SecretPromotion', () => {
  const name = 'auth-to-staging';

  beforeAll(async () => {
    await as['mallory']!(
      ['apply', '--server-side', '--field-manager=mallory', '-f', '-'],
      yaml(promotion(name)),
    );
  });

  it('removes an approved-by typed without an approval', async () => {
    await annotate('mallory', name, `${BY}=mallory`);
    expect(await annotations(name)).not.toHaveProperty([BY]);
  });

  it('records alice when alice approves', async () => {
    await annotate('alice', name, `${APPROVE}=plan-1`);
    expect(await annotations(name)).toMatchObject({ [APPROVE]: 'plan-1', [BY]: 'alice' });
  });

  it('keeps alice when someone else edits the spec and types an approver', async () => {
    await as['mallory']!([
      'patch',
      'spromo',
      name,
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { prune: true }, metadata: { annotations: { [BY]: 'mallory' } } }),
    ]);
    const after = JSON.parse(await admin(['get', 'spromo', name, '-n', ns, '-o', 'json']));
    expect(after.spec.prune).toBe(true);
    expect(after.metadata.annotations[BY]).toBe('alice');
  });

  it('refuses an approval from someone outside the approvers group', async () => {
    await expect(annotate('mallory', name, `${APPROVE}=plan-2`)).rejects.toThrow(
      /only members of novapos:approvers may set security\.novapos\.io\/approve-plan; mallory is not one/,
    );
    expect((await annotations(name))[APPROVE]).toBe('plan-1');
  });

  it('records bob when bob approves a new plan, even if he types alice', async () => {
    await annotate('bob', name, `${APPROVE}=plan-2`, `${BY}=alice`);
    expect(await annotations(name)).toMatchObject({ [APPROVE]: 'plan-2', [BY]: 'bob' });
  });

  it('keeps bob when alice sets the same plan again: an annotation acts once per value', async () => {
    await annotate('alice', name, `${APPROVE}=plan-2`, `${BY}=alice`);
    expect((await annotations(name))[BY]).toBe('bob');
  });

  it('stamps the creator when a promotion is created already approved', async () => {
    await as['alice']!(
      ['apply', '--server-side', '--field-manager=alice', '-f', '-'],
      yaml(promotion('created-approved', { [APPROVE]: 'plan-9', [BY]: 'mallory' })),
    );
    expect(await annotations('created-approved')).toMatchObject({ [APPROVE]: 'plan-9', [BY]: 'alice' });
  });

  it('keeps the stamp through a server-side apply that does not mention it', async () => {
    const doc = promotion('created-approved', { [APPROVE]: 'plan-9' });
    doc.spec.prune = true;
    await as['alice']!(['apply', '--server-side', '--field-manager=alice', '-f', '-'], yaml(doc));
    expect((await annotations('created-approved'))[BY]).toBe('alice');
  });

  it('removes the stamp when the approval is withdrawn', async () => {
    await annotate('mallory', name, `${APPROVE}-`);
    expect(await annotations(name)).not.toHaveProperty([BY]);
  });
});

describe('an emergency annotation on a SigningKeyRotation', () => {
  const ROTATE = Annotations.rotateNow;
  const EMERGENCY = Annotations.emergency;
  const name = 'issuer-keys';
  const annotateKeys = (...pairs: string[]) =>
    admin(['annotate', '--overwrite', 'skr', name, '-n', ns, ...pairs]);
  const refusal = (...pairs: string[]) =>
    annotateKeys(...pairs).then(
      () => 'accepted',
      (e: Error) => e.message,
    );

  beforeAll(async () => {
    const doc = examples(ns).get('SigningKeyRotation');
    if (!doc) throw new Error('examples/ has no SigningKeyRotation');
    doc.metadata.name = name;
    await admin(['apply', '--server-side', '-f', '-'], yaml(doc));
    // The policy takes effect asynchronously: wait until it refuses the runbook's old "true".
    await waitUntil(
      'the emergency-scoped policy to refuse emergency="true"',
      async () => {
        if ((await refusal(`${EMERGENCY}=true`)) !== 'accepted') return true;
        await annotateKeys(`${EMERGENCY}-`); // accepted before the policy was active: take it back, try again
        return false;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  });

  it('is refused as "true", with the message saying what to write', async () => {
    const message = await refusal(`${ROTATE}=r0`, `${EMERGENCY}=true`);
    expect(message).toContain(`give it the same value as ${ROTATE}`);
    expect(message).toContain('kubectl novapos rotate');
    expect((await annotationsOf(name))[EMERGENCY]).toBeUndefined();
  });

  it('is accepted with the rotate-now value of the same write', async () => {
    await annotateKeys(`${ROTATE}=r1`, `${EMERGENCY}=r1`);
    expect(await annotationsOf(name)).toMatchObject({ [ROTATE]: 'r1', [EMERGENCY]: 'r1' });
  });

  it('stays (ignored by the controller) through a later routine rotate-now, and may be removed', async () => {
    await annotateKeys(`${ROTATE}=r2`);
    expect(await annotationsOf(name)).toMatchObject({ [ROTATE]: 'r2', [EMERGENCY]: 'r1' });
    await annotateKeys(`${EMERGENCY}-`);
    expect((await annotationsOf(name))[EMERGENCY]).toBeUndefined();
  });

  it('is refused with the value of an earlier rotation', async () => {
    expect(await refusal(`${ROTATE}=r3`, `${EMERGENCY}=r2`)).toContain(`give it the same value as ${ROTATE}`);
  });

  async function annotationsOf(skr: string): Promise<Record<string, string>> {
    const obj = JSON.parse(await admin(['get', 'skr', skr, '-n', ns, '-o', 'json']));
    return obj.metadata.annotations ?? {};
  }
});
