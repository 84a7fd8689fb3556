import { Counter, Gauge, type Registry } from 'prom-client';
import type { SigningKeyRotationStatus } from '../../api/index.js';

/** The per-kind metrics of docs/contracts.md, labelled by resource (namespace, name) as well. */
export class SigningKeyMetrics {
  readonly nextRotation: Gauge<'namespace' | 'name'>;
  readonly keyAge: Gauge<'namespace' | 'name' | 'state'>;
  readonly rotations: Counter<'namespace' | 'name' | 'reason'>;
  readonly servicesLoaded: Gauge<'namespace' | 'name' | 'service'>;

  constructor(registry: Registry) {
    this.nextRotation = metric(
      registry,
      'novapos_signing_key_next_rotation_timestamp_seconds',
      () =>
        new Gauge({
          name: 'novapos_signing_key_next_rotation_timestamp_seconds',
          help: 'When the next signing key of a SigningKeyRotation starts signing (Unix seconds).',
          labelNames: ['namespace', 'name'],
          registers: [registry],
        }),
    );
    this.keyAge = metric(
      registry,
      'novapos_signing_key_age_seconds',
      () =>
        new Gauge({
          name: 'novapos_signing_key_age_seconds',
          help: 'Age of the oldest signing key in each state (next, active, retired), since it was generated.',
          labelNames: ['namespace', 'name', 'state'],
          registers: [registry],
        }),
    );
    this.rotations = metric(
      registry,
      'novapos_signing_key_rotations_total',
      () =>
        new Counter({
          name: 'novapos_signing_key_rotations_total',
          help: 'Signing key rotations (a new key started signing), by what started them.',
          labelNames: ['namespace', 'name', 'reason'],
          registers: [registry],
        }),
    );
    this.servicesLoaded = metric(
      registry,
      'novapos_signing_key_services_loaded',
      () =>
        new Gauge({
          name: 'novapos_signing_key_services_loaded',
          help: 'Whether a service reports the current key-set hash (1) or not (0).',
          labelNames: ['namespace', 'name', 'service'],
          registers: [registry],
        }),
    );
  }

  /** Sets the gauges from a status just written. */
  observe(namespace: string, name: string, status: SigningKeyRotationStatus, now: Date): void {
    const next = status.nextRotationTime ? Date.parse(status.nextRotationTime) : undefined;
    if (next !== undefined) this.nextRotation.set({ namespace, name }, next / 1000);
    else this.nextRotation.remove({ namespace, name });
    for (const state of ['next', 'active', 'retired'] as const) {
      const ages = (status.keys ?? [])
        .filter((k) => k.state === state)
        .map((k) => (now.getTime() - Date.parse(k.createdAt)) / 1000);
      if (ages.length) this.keyAge.set({ namespace, name, state }, Math.max(0, ...ages));
      else this.keyAge.remove({ namespace, name, state });
    }
    for (const s of status.services ?? []) {
      this.servicesLoaded.set({ namespace, name, service: s.name }, s.loaded ? 1 : 0);
    }
  }

  /** Drops a deleted resource's series. */
  forget(namespace: string, name: string, services: readonly string[]): void {
    this.nextRotation.remove({ namespace, name });
    for (const state of ['next', 'active', 'retired']) this.keyAge.remove({ namespace, name, state });
    for (const service of services) this.servicesLoaded.remove({ namespace, name, service });
  }
}

function metric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
