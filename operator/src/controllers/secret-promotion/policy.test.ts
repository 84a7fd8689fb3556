import { describe, expect, it } from 'vitest';
import { aSecretPromotion } from '../../api/fixtures.js';
import type { SecretPromotion } from '../../api/v1alpha1/secretpromotion.js';
import type { PromotionPolicy } from '../../connections-file.js';
import { checkPromotionPolicy, type PromotionPolicies, withPolicyApproval } from './policy.js';

const allow = (p: Partial<PromotionPolicy>): PromotionPolicy => ({
  source: false,
  target: false,
  namespaces: ['novapos'],
  protected: false,
  ...p,
});

/** The runbook's environments: dev (local) is read, staging written, prod written only with approval. */
const policies: PromotionPolicies = new Map<string, PromotionPolicy | undefined>([
  ['local', allow({ source: true, namespaces: ['novapos', 'team-a'] })],
  ['staging', allow({ target: true, namespaces: ['novapos', 'team-a'] })],
  ['prod', allow({ target: true, protected: true })],
  ['audit', undefined],
]);

const inNamespace = (p: SecretPromotion, namespace: string): SecretPromotion => ({
  ...p,
  metadata: { ...p.metadata, namespace },
});

describe('the promotion policy', () => {
  it('allows dev to staging from an allowed namespace, with no protected target', () => {
    expect(checkPromotionPolicy(aSecretPromotion(), policies)).toEqual({
      allowed: true,
      protectedTargets: [],
    });
  });

  it.each<[string, SecretPromotion, string]>([
    [
      'a namespace not listed for the target',
      inNamespace(
        aSecretPromotion({ targets: [{ name: 'prod', connection: 'prod', mount: 'secret', path: 'x' }] }),
        'team-a',
      ),
      'connections.prod.promotion.namespaces',
    ],
    [
      'a namespace not listed for the source',
      inNamespace(aSecretPromotion(), 'payments'),
      'connections.local.promotion.namespaces',
    ],
    [
      'prod read as a source (it may only be a target)',
      aSecretPromotion({ source: { connection: 'prod', mount: 'secret', path: 'novapos/payments' } }),
      'connections.prod.promotion.source',
    ],
    [
      'dev written as a target',
      aSecretPromotion({ targets: [{ name: 'dev', connection: 'local', mount: 'secret', path: 'copy' }] }),
      'connections.local.promotion.target',
    ],
    [
      'an override that reads prod into staging',
      aSecretPromotion({
        targets: [
          {
            name: 'staging',
            connection: 'staging',
            mount: 'secret',
            path: 'novapos/auth',
            overrides: [
              {
                key: 'K',
                valueFrom: { connection: 'prod', mount: 'secret', path: 'novapos/payments', key: 'K' },
              },
            ],
          },
        ],
      }),
      'connections.prod.promotion.source',
    ],
    [
      'a connection without a promotion policy',
      aSecretPromotion({ targets: [{ name: 'audit', connection: 'audit', mount: 'secret', path: 'x' }] }),
      'connections.audit.promotion',
    ],
    [
      'a connection that is not configured',
      aSecretPromotion({ source: { connection: 'qa', mount: 'secret', path: 'x' } }),
      'connections.qa',
    ],
  ])('refuses %s, naming the rule', (_why, p, rule) => {
    const d = checkPromotionPolicy(p, policies);
    expect(d).toMatchObject({ allowed: false, rule });
    if (!d.allowed) expect(d.message).not.toContain('\n');
  });

  it("an override from the target's own Vault needs no source permission there", () => {
    const p = aSecretPromotion({
      targets: [
        {
          name: 'staging',
          connection: 'staging',
          mount: 'secret',
          path: 'novapos/auth',
          overrides: [{ key: 'K', valueFrom: { mount: 'secret', path: 'staging-overrides/auth', key: 'K' } }],
        },
      ],
    });
    expect(checkPromotionPolicy(p, policies).allowed).toBe(true);
  });

  it('a protected target needs approval whatever spec.requireApproval says', () => {
    const p = aSecretPromotion({
      requireApproval: false,
      targets: [{ name: 'prod', connection: 'prod', mount: 'secret', path: 'novapos/auth' }],
    });
    const d = checkPromotionPolicy(p, policies);
    expect(d).toEqual({ allowed: true, protectedTargets: ['prod'] });
    expect(withPolicyApproval(p, d).spec.requireApproval).toBe(true);
    const unprotected = aSecretPromotion({ requireApproval: false });
    expect(
      withPolicyApproval(unprotected, checkPromotionPolicy(unprotected, policies)).spec.requireApproval,
    ).toBe(false);
  });
});
