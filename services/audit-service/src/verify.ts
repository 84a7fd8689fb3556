import type { HeadSigner } from './adapters/head-signer.js';
import type { AuditRepository, VerifyResult } from './storage/repo.js';

/**
 * `audit verify`: recomputes the chain (first broken link), then, when heads are signed, checks every signed
 * head against the row at its seq and the transit key. A chain rewritten from row n on is consistent again,
 * but its head no longer matches the signed heads from n on: the result names the first such head and the
 * last good one (the rewrite starts after it).
 */
export async function verifyAudit(
  repo: AuditRepository,
  signer: HeadSigner | undefined,
): Promise<VerifyResult> {
  const chain = await repo.verify();
  if (!chain.ok || !signer) return chain;
  let lastGoodSeq = 0;
  let checked = 0;
  const checkpoints = await signer.checkpoints();
  // Retention: the base the chain starts from must itself be a signed head (a base written into
  // PostgreSQL by someone else, to hide removed rows, is not).
  const base = chain.base;
  if (base) {
    const signed = checkpoints.find((c) => c.seq === base.seq);
    if (!signed || signed.hash !== base.hash || !(await signer.valid(signed)))
      return {
        ...chain,
        ok: false,
        firstBroken: { seq: base.seq, reason: 'retention_base_unsigned' },
        signedHeads: { checked: 0, lastGoodSeq: 0 },
      };
  }
  for (const c of checkpoints) {
    if (base && c.seq <= base.seq) continue; // removed by retention (the base was checked above)
    checked++;
    const hash = await repo.hashAt(c.seq);
    if (hash !== c.hash || !(await signer.valid(c))) {
      return {
        ...chain,
        ok: false,
        firstBroken: { seq: c.seq, reason: 'signed_head_mismatch' },
        signedHeads: { checked, lastGoodSeq },
      };
    }
    lastGoodSeq = c.seq;
  }
  return { ...chain, signedHeads: { checked, lastGoodSeq } };
}
