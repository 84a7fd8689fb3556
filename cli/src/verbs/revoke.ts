import { describeError } from '../../../lib/errors.js';
import type { SigningKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { signingKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { annotate, getObject } from '../api.js';
import {
  type JwksProbe,
  revokeAnnotations,
  revokeDecision,
  revokedByOperator,
  revokeProgress,
} from '../decide/revoke.js';
import { type Replica, readReplica, serviceReplicas, urlReplica } from '../replicas.js';
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
      async () => {
        const x = await getObject<SigningKeyRotation>(session, signingKeyRotation, name);
        return { skr: x, probes: revokedByOperator(x, kid) ? await probeServices(session, x) : undefined };
      },
      (x) => revokeProgress(x.skr, kid, x.probes),
      parseDurationFlag(opts.timeout ?? '2m', '--timeout'),
    );
    session.emit(done.obj.skr, () => `${done.progress.line}\n`);
    return;
  }
  session.emit(obj, () => '');
}

/**
 * What every ready replica of every service in spec.services serves, from its GET /keys/status (the kids
 * of the JWKS it has loaded, docs/contracts.md), read through the apiserver's proxy: a serviceRef's
 * replicas from its EndpointSlices on the port named http (admin when it has none, as the operator reads
 * them: the audit-service); a deprecated statusURL through the Service proxy when it names an in-cluster
 * Service, else directly. Undefined when spec.services is empty.
 */
export async function probeServices(
  session: Session,
  skr: SigningKeyRotation,
): Promise<JwksProbe[] | undefined> {
  const services = skr.spec.services ?? [];
  if (!services.length) return undefined;
  const ns = skr.metadata.namespace ?? session.namespace;
  const perService = await Promise.all(
    services.map(async (svc): Promise<JwksProbe[]> => {
      let targets: { replica: Replica; path: string }[];
      try {
        targets = svc.serviceRef
          ? (
              await serviceReplicas(
                session,
                svc.serviceRef.namespace ?? ns,
                svc.serviceRef.name,
                'http',
                'admin',
              )
            ).map((replica) => ({ replica, path: '/keys/status' }))
          : svc.statusURL
            ? [urlReplica(svc.statusURL)]
            : [];
      } catch (err) {
        return [{ service: svc.name, replica: 'replicas', error: describeError(err) }];
      }
      return Promise.all(
        targets.map(async ({ replica, path }): Promise<JwksProbe> => {
          const r = await readReplica(session, replica, path);
          if (r.error !== undefined) return { service: svc.name, replica: replica.label, error: r.error };
          try {
            const body = JSON.parse(r.text ?? '') as { kids?: unknown };
            if (!Array.isArray(body.kids)) throw new Error('no kids');
            return { service: svc.name, replica: replica.label, kids: body.kids.map(String) };
          } catch {
            return {
              service: svc.name,
              replica: replica.label,
              error: `${path} did not answer {"kids": [...]} (docs/contracts.md)`,
            };
          }
        }),
      );
    }),
  );
  return perService.flat();
}
