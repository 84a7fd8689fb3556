import type { SecretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { secretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { annotate, getObject } from '../api.js';
import { rollbackAnnotations, rollbackDecision, rollbackProgress } from '../decide/rollback.js';
import { triggerValue } from '../decide/trigger.js';
import { CliError, ExitCode } from '../errors.js';
import { parseRef } from '../resources.js';
import { parseDurationFlag, type Session } from '../session.js';

export interface RollbackOptions {
  readonly yes?: boolean;
  readonly wait?: boolean;
  readonly timeout?: string;
}

export async function rollback(session: Session, ref: string, opts: RollbackOptions): Promise<void> {
  const { name } = parseRef(ref, ['SecretPromotion']);
  const sp = await getObject<SecretPromotion>(session, secretPromotion, name);
  const { prompt } = rollbackDecision(sp);
  await session.confirm(prompt, opts.yes);
  const requestedAt = session.io.now();
  const value = triggerValue(requestedAt);
  const patched = await annotate<SecretPromotion>(session, secretPromotion, name, rollbackAnnotations(value));
  const what = `spromo/${name}: rollback requested (rollback=${value})`;
  if (!opts.wait) {
    session.emit(patched, () => `${what}\n`);
    return;
  }
  session.io.stderr.write(`${what}\n`);
  const { obj, progress } = await session.waitFor(
    `spromo/${name}`,
    () => getObject<SecretPromotion>(session, secretPromotion, name),
    (x) => rollbackProgress(x, value, requestedAt),
    parseDurationFlag(opts.timeout ?? '2m', '--timeout'),
  );
  session.emit(obj, () => `${progress.line}\n`);
  if (progress.failed)
    throw new CliError(progress.line, ExitCode.error, 'see kubectl novapos status spromo/NAME');
}
