import type { KeysetDocument } from '../../../../lib/keyset.js';
import { publicJwkOf } from '../../../../lib/keyset.js';
import type { KeySecretState, StoredKey, VaultObservation } from '../../adapters/vault/signing-key-store.js';
import { aSigningKeyRotation } from '../../api/fixtures.js';
import type { SigningKey, SigningKeyRotationSpec, SigningKeyRotationStatus } from '../../api/index.js';
import {
  DEFAULT_DECIDE_OPTIONS,
  type DecideOptions,
  type Decision,
  decide,
  type ServiceObservation,
  type Step,
  transitions,
} from './desired.js';
import { generateSigningKey } from './keys.js';

/**
 * An in-memory stand-in for the Vault key tree and the services, to drive `decide` through whole
 * rotations in unit tests (pure logic, simulated clock). It applies steps exactly as the Vault adapter
 * does, with check-and-set, and can drop a status write to simulate a crash after any step.
 */
export class Simulation {
  now: number;
  status: SigningKeyRotationStatus | undefined;
  spec: SigningKeyRotationSpec;
  annotations: Record<string, string> = {};
  generation = 1;
  keyset: KeysetDocument | undefined;
  keysetVersion = 0;
  readonly secrets = new Map<
    string,
    { version: number; alg: string; state: KeySecretState; createdAt: string; jwk: Record<string, unknown> }
  >();
  /** Which key-set hash each service has loaded; a service in `stuck` does not load new sets. */
  readonly loaded = new Map<string, string | null>();
  readonly loadedAt = new Map<string, string>();
  readonly stuck = new Set<string>();
  readonly steps: Step[] = [];
  readonly events: { reason: string; note: string; type: string }[] = [];
  readonly options: DecideOptions;
  /** When set, the status write after the step with this index is lost (a crash). */
  crashAfterStep: number | undefined;
  /** Every kid that has been published, with when it was first seen published and last seen active. */
  readonly history = new Map<string, { firstPublished: number; lastActive?: number; revoked?: boolean }>();
  readonly violations: string[] = [];
  lastDecision: Decision | undefined;

  constructor(
    spec: Partial<SigningKeyRotationSpec> = {},
    start = Date.parse('2025-01-01T00:00:00Z'),
    options: Partial<DecideOptions> = {},
  ) {
    this.now = start;
    this.spec = aSigningKeyRotation(spec).spec;
    for (const s of this.spec.services ?? []) this.loaded.set(s.name, null);
    this.options = { ...DEFAULT_DECIDE_OPTIONS, clockSkewMs: 10_000, ...options };
  }

  observe(): VaultObservation {
    const keys: StoredKey[] = [...this.secrets.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([kid, s]) => ({
        kid,
        version: s.version,
        material: {
          alg: s.alg,
          state: s.state,
          createdAt: s.createdAt,
          publicJwk: publicJwkOf(s.jwk, kid, s.alg),
        },
      }));
    return { keyset: this.keyset, keysetVersion: this.keysetVersion, keysetInvalid: false, keys };
  }

  private servicesSeen(): ServiceObservation[] {
    return (this.spec.services ?? []).map((s) => ({
      name: s.name,
      report: {
        keysetHash: this.loaded.get(s.name) ?? null,
        kids: [],
        activeKid: null,
        loadedAt: this.loadedAt.get(s.name) ?? null,
      },
      checkedAt: new Date(this.now),
    }));
  }

  private decideNow(status: SigningKeyRotationStatus | undefined, services: ServiceObservation[]): Decision {
    return decide({
      spec: this.spec,
      generation: this.generation,
      status,
      annotations: this.annotations,
      now: new Date(this.now),
      location: { mount: 'secret', namespace: 'novapos', name: 'auth' },
      vault: this.observe(),
      services,
      options: this.options,
    });
  }

  /** One reconcile, as the reconciler runs it. Returns the decision whose status was (or would be) written. */
  async reconcile(): Promise<Decision> {
    // Services load the set that was current at the previous reconcile (one reconcile of lag).
    for (const [name, hash] of this.loaded) {
      if (this.stuck.has(name) || !this.keyset || hash === this.keyset.keysetHash) continue;
      this.loaded.set(name, this.keyset.keysetHash);
      this.loadedAt.set(name, new Date(this.now).toISOString());
    }
    const services = this.servicesSeen();
    let decision = this.decideNow(this.status, services);
    let base = this.status;
    let crashed = false;
    if (decision.step && !decision.invalidSpec) {
      const step = decision.step;
      const generated = await this.apply(step);
      this.steps.push(step);
      if (generated) {
        const entry: SigningKey = {
          kid: generated,
          state: 'next',
          algorithm: this.spec.algorithm,
          createdAt: new Date(this.now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        };
        base = { ...(this.status ?? {}), keys: [...(this.status?.keys ?? []), entry] };
      }
      crashed = this.crashAfterStep === this.steps.length - 1;
      decision = this.decideNow(base, services);
    }
    if (!crashed) {
      for (const t of [...transitions(this.status, decision.status), ...decision.notices])
        this.events.push(t);
      this.status = decision.status;
    }
    this.check();
    this.lastDecision = decision;
    return decision;
  }

  private async apply(step: Step): Promise<string | undefined> {
    switch (step.kind) {
      case 'generate': {
        const key = await generateSigningKey(this.spec.algorithm, this.spec.keySize);
        if (this.secrets.has(key.kid)) throw new Error('cas_mismatch');
        this.secrets.set(key.kid, {
          version: 1,
          alg: key.alg,
          state: step.state,
          createdAt: new Date(this.now).toISOString(),
          jwk: key.privateJwk as Record<string, unknown>,
        });
        return key.kid;
      }
      case 'prepare-active':
      case 'sync-state': {
        const s = this.secrets.get(step.kid);
        if (!s || s.version !== step.expectedVersion) throw new Error('cas_mismatch');
        s.state = step.kind === 'prepare-active' ? 'active' : step.state;
        s.version += 1;
        return undefined;
      }
      case 'publish':
        if (step.expectedVersion !== this.keysetVersion) throw new Error('cas_mismatch');
        this.keyset = step.doc;
        this.keysetVersion += 1;
        return undefined;
      case 'destroy':
        this.secrets.delete(step.kid);
        return undefined;
    }
  }

  /** The invariants, checked after every reconcile. */
  private check(): void {
    const v = (m: string) => this.violations.push(`${new Date(this.now).toISOString()}: ${m}`);
    const window = 60_000 + 30_000; // maxTokenTTL + jwksCacheTTL of the specs used in the tests
    const doc = this.keyset;
    if (doc) {
      const active = this.secrets.get(doc.activeKid);
      if (!active) v(`active key ${doc.activeKid} has no secret`);
      else if (active.state !== 'active') v(`active key ${doc.activeKid} secret says ${active.state}`);
      for (const k of doc.jwks.keys) {
        if (!this.secrets.has(k.kid!)) v(`published key ${k.kid} has no secret`);
        if ('d' in k) v(`published key ${k.kid} has private members`);
        const h = this.history.get(k.kid!) ?? { firstPublished: this.now };
        if (!this.history.has(k.kid!)) this.history.set(k.kid!, h);
      }
      const h = this.history.get(doc.activeKid)!;
      h.lastActive = this.now;
      for (const [kid, hist] of this.history) {
        const stillPublished = doc.jwks.keys.some((k) => k.kid === kid);
        if (
          !stillPublished &&
          hist.lastActive !== undefined &&
          !hist.revoked &&
          this.now < hist.lastActive + window
        ) {
          v(`key ${kid} left the JWKS ${this.now - hist.lastActive} ms after it last signed`);
        }
      }
    }
    const actives = (this.status?.keys ?? []).filter((k) => k.state === 'active');
    if (actives.length > 1) v(`status lists ${actives.length} active keys`);
  }

  /** Reconciles at once while steps remain, then advances the clock to the requeue time (at most `maxStepMs`). */
  async runFor(durationMs: number, maxStepMs = 5_000): Promise<void> {
    const end = this.now + durationMs;
    let guard = 0;
    while (this.now < end) {
      const d = await this.reconcile();
      if (++guard > 100_000) throw new Error('simulation does not settle');
      if (d.step && !d.invalidSpec) {
        this.now += 10;
        continue;
      }
      this.now = Math.min(end, this.now + Math.min(d.requeueAfterMs, maxStepMs));
    }
  }

  async settle(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const d = await this.reconcile();
      if (!d.step || d.invalidSpec) return;
      this.now += 10;
    }
    throw new Error('did not settle in 50 reconciles');
  }

  /** Marks every current key as legitimately revoked in the history (for the JWKS check). */
  markRevoked(kid: string): void {
    const h = this.history.get(kid);
    if (h) h.revoked = true;
  }

  get activeKid(): string | undefined {
    return this.keyset?.activeKid;
  }

  get publishedKids(): string[] {
    return (this.keyset?.jwks.keys ?? []).map((k) => k.kid!);
  }

  key(kid: string): SigningKey | undefined {
    return this.status?.keys?.find((k) => k.kid === kid);
  }
}
