import type { SigningKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { signingKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { annotate, getObject } from '../api.js';
import { revokeAnnotations, revokeDecision, revokeProgress } from '../decide/revoke.js';
import { parseRef } from '../resources.js';
import { parseDurationFlag, type Session } from '../session.js';

export interface RevokeOptions {
  readonly emergency?: boolean;
  readonly yes?: boolean;
  readonly wait?: boolean;
  readonly timeout?: string;
}

export async function revoke(session: Session, ref: string, kid: string, opts: RevokeOptions): Promise<void> {
  const { name } = parseRef(ref, ['SigningKeyRotation']);
  const skr = await getObject<SigningKeyRotation>(session, signingKeyRotation, name);
  const decision = revokeDecision(skr, kid, !!opts.emergency);
  let obj = skr;
  if (decision.action === 'already') {
    session.io.stderr.write(`${decision.message}\n`);
  } else {
    await session.confirm(decision.prompt, opts.yes);
    obj = await annotate<SigningKeyRotation>(session, signingKeyRotation, name, revokeAnnotations(kid));
    session.io.stderr.write(`skr/${name}: revocation of ${kid} requested\n`);
  }
  if (opts.wait) {
    const done = await session.waitFor(
      `skr/${name}`,
      () => getObject<SigningKeyRotation>(session, signingKeyRotation, name),
      (x) => revokeProgress(x, kid),
      parseDurationFlag(opts.timeout ?? '2m', '--timeout'),
    );
    session.emit(done.obj, () => `${done.progress.line}\n`);
    return;
  }
  session.emit(obj, () => '');
}
