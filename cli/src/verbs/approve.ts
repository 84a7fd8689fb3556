import { Annotations } from '../../../operator/src/api/meta.js';
import type { SecretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { secretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { getObject } from '../api.js';
import { approveDecision, approvePatch } from '../decide/approve.js';
import { renderPlan } from '../render/secret-promotion.js';
import { parseRef, resourcePath } from '../resources.js';
import type { Session } from '../session.js';

export interface ApproveOptions {
  readonly hash?: string;
}

/**
 * Approves the current plan: shows it, then sets approve-plan to its hash, read from status (never typed),
 * with the resourceVersion it was read at. Admission records who approved.
 */
export async function approve(session: Session, ref: string, opts: ApproveOptions): Promise<void> {
  const { name } = parseRef(ref, ['SecretPromotion']);
  const sp = await getObject<SecretPromotion>(session, secretPromotion, name);
  const decision = approveDecision(sp, opts.hash);
  if (decision.action === 'already') {
    session.emit(sp, () => `${decision.message}\n`);
    return;
  }
  if (!session.output) session.print(`${renderPlan(sp.status?.plan, session.style, session.io.now())}\n\n`);
  const after = await session.client.mergePatch<SecretPromotion>(
    resourcePath(secretPromotion, session.namespace, name),
    approvePatch(sp, decision.hash),
  );
  const by = after.metadata.annotations?.[Annotations.approvedBy] ?? 'unknown';
  session.emit(after, () => `spromo/${name}: approved plan ${decision.hash} as ${by}\n`);
}
