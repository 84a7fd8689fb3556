import type { SigningKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { signingKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { annotate, getObject } from '../api.js';
import { rotateAnnotations, rotateProgress } from '../decide/rotate.js';
import { triggerValue } from '../decide/trigger.js';
import { parseRef } from '../resources.js';
import { parseDurationFlag, type Session } from '../session.js';

export interface RotateOptions {
  readonly emergency?: boolean;
  readonly wait?: boolean;
  readonly timeout?: string;
}

export async function rotate(session: Session, ref: string, opts: RotateOptions): Promise<void> {
  const { name } = parseRef(ref, ['SigningKeyRotation']);
  const before = await getObject<SigningKeyRotation>(session, signingKeyRotation, name);
  const value = triggerValue(session.io.now());
  const emergency = !!opts.emergency;
  const patched = await annotate<SigningKeyRotation>(
    session,
    signingKeyRotation,
    name,
    rotateAnnotations(value, emergency),
  );
  const what = `skr/${name}: ${emergency ? 'emergency rotation (the new key signs at once)' : 'rotation'} requested (rotate-now=${value})`;
  if (!opts.wait) {
    session.emit(patched, () => `${what}\n`);
    return;
  }
  session.io.stderr.write(`${what}\n`);
  const req = { value, emergency, activeKidBefore: before.status?.activeKid };
  const { obj, progress } = await session.waitFor(
    `skr/${name}`,
    () => getObject<SigningKeyRotation>(session, signingKeyRotation, name),
    (skr, now) => rotateProgress(skr, req, now),
    parseDurationFlag(opts.timeout ?? '5m', '--timeout'),
  );
  session.emit(obj, () => `${progress.line}\n`);
}
