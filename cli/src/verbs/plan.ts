import type { SecretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { secretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { getObject } from '../api.js';
import { approvalState, renderPlan } from '../render/secret-promotion.js';
import { parseRef } from '../resources.js';
import type { Session } from '../session.js';

export async function plan(session: Session, ref: string): Promise<void> {
  const { name } = parseRef(ref, ['SecretPromotion']);
  const sp = await getObject<SecretPromotion>(session, secretPromotion, name);
  session.emit(
    sp.status?.plan ?? null,
    () =>
      `${renderPlan(sp.status?.plan, session.style, session.io.now())}\n\n${session.style.bold('Approval:')} ${approvalState(sp)}\n`,
  );
}
