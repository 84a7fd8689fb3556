import type { FingerprintKey } from '../../adapters/hmac-key/index.js';
import {
  mapLimit,
  type SecretData,
  type SecretStore,
  type StoredSecret,
} from '../../adapters/vault-connections/index.js';
import { Reason } from '../../api/conditions.js';
import { Annotations, SIGNING_KEYS_VAULT_PREFIX } from '../../api/meta.js';
import type { PromotionPlan, SecretPromotion } from '../../api/v1alpha1/secretpromotion.js';
import { isSigningKeyPath, normalizeVaultPath } from '../../api/validation.js';
import type { ConflictRecord, WriteRecord } from './desired.js';
import { guardPath, PlanError, targetOf } from './errors.js';
import { actionOf, changedKeysSince, type PairSnapshot } from './plan.js';

/**
 * The Vault reads of a promotion, each returning one input value for the pure plan computation: the
 * source × target pairs to plan a promotion, the last promotion's writes to plan a rollback, and the pinned
 * versions of an approved plan read again before applying it. Values stay in memory.
 */

/** Gives the `SecretStore` of a named Vault connection. */
export interface SecretStoreProvider {
  store(connection: string): SecretStore;
}

/** custom_metadata keys written on every target secret a promotion writes (provenance; never values). */
export const Provenance = {
  promotion: 'novapos-promotion',
  plan: 'novapos-promotion-plan',
  source: 'novapos-promotion-source',
  sourceVersion: 'novapos-promotion-source-version',
  version: 'novapos-promotion-version',
  created: 'novapos-promotion-created',
} as const;

/** custom_metadata of each target secret as read, by `pairKey(target, path)`, to merge provenance into. */
export type TargetMetadata = Map<string, Readonly<Record<string, string>> | undefined>;

export const pairKey = (target: string, path: string): string => `${target}|${path}`;

/** What a plan is computed from. */
export interface PlanReads {
  readonly pairs: PairSnapshot[];
  /** Source paths under the signing-key tree that a prefix listed (never promoted). */
  readonly skipped: readonly string[];
  readonly targetMetadata: TargetMetadata;
}

/** An approved plan's pinned versions, read again before applying it. */
export interface PinnedReads {
  /** Entries whose target is still at the planned version, with the pinned source read again. */
  readonly pairs: PairSnapshot[];
  /** Targets that moved since the plan. */
  readonly conflicts: ConflictRecord[];
  /** Targets this very plan wrote in an earlier, interrupted reconcile. */
  readonly alreadyWritten: WriteRecord[];
  readonly targetMetadata: TargetMetadata;
}

export class PromotionReader {
  constructor(
    private readonly stores: SecretStoreProvider,
    private readonly concurrency: number,
  ) {}

  /** Source secrets × targets, read now (the source at the pinned version when spec.source.version is set). */
  async forPromotion(p: SecretPromotion): Promise<PlanReads> {
    const { source, targets } = p.spec;
    const sourceStore = this.stores.store(source.connection);
    let secrets: { path: string; relative: string }[];
    let skipped: string[] = [];
    if (source.path !== undefined) {
      const path = normalizeVaultPath(source.path);
      secrets = [{ path, relative: '' }];
    } else {
      const prefix = normalizeVaultPath(source.prefix as string);
      const listed = await sourceStore.list(source.mount, prefix, (path) =>
        isSigningKeyPath(source.mount, path),
      );
      skipped = listed.skipped;
      secrets = listed.paths.map((path) => ({ path, relative: path.slice(prefix.length + 1) }));
      if (!secrets.length) {
        throw new PlanError(
          Reason.SourceNotFound,
          `no secrets under ${source.connection}:${source.mount}/${prefix}/`,
        );
      }
    }
    const read = await mapLimit(secrets, this.concurrency, async (s) => ({
      ...s,
      secret: await sourceStore.read(source.mount, s.path, source.version),
    }));
    const present = read.filter((r) => r.secret.data !== undefined);
    if (source.path !== undefined && !present.length) {
      const at = source.version ? ` version ${source.version}` : '';
      throw new PlanError(
        Reason.SourceNotFound,
        `source ${source.connection}:${source.mount}/${secrets[0]?.path}${at} does not exist or is deleted`,
      );
    }
    const overrides = await this.overrides(p);
    const pairs: PairSnapshot[] = [];
    const targetMetadata: TargetMetadata = new Map();
    const jobs = present.flatMap((s) => targets.map((t) => ({ s, t })));
    await mapLimit(jobs, this.concurrency, async ({ s, t }) => {
      const targetPath = s.relative
        ? `${normalizeVaultPath(t.path)}/${s.relative}`
        : normalizeVaultPath(t.path);
      if (isSigningKeyPath(t.mount, targetPath)) return; // never written, whatever the source layout
      const current = await this.stores.store(t.connection).read(t.mount, targetPath);
      targetMetadata.set(pairKey(t.name, targetPath), current.customMetadata);
      pairs.push({
        target: t.name,
        sourcePath: s.path,
        sourceVersion: s.secret.version,
        sourceData: s.secret.data,
        targetPath,
        targetVersion: current.version,
        targetData: current.data,
        overrides: overrides.get(t.name),
      });
    });
    return { pairs, skipped, targetMetadata };
  }

  /** Each target secret the last promotion wrote, against the version it replaced. */
  async forRollback(p: SecretPromotion): Promise<PlanReads> {
    const writes = p.status?.lastPromotion?.writes ?? [];
    const targetMetadata: TargetMetadata = new Map();
    for (const w of writes) guardPath('status.lastPromotion names', targetOf(p, w.target).mount, w.path);
    const pairs = await mapLimit(writes, this.concurrency, async (w): Promise<PairSnapshot> => {
      const t = targetOf(p, w.target);
      const store = this.stores.store(t.connection);
      const current = await store.read(t.mount, w.path);
      targetMetadata.set(pairKey(w.target, w.path), current.customMetadata);
      let restore: StoredSecret | undefined;
      if (w.previousVersion > 0) {
        restore = await store.read(t.mount, w.path, w.previousVersion);
        if (!restore.data) {
          throw new PlanError(
            Reason.SourceNotFound,
            `cannot roll back ${t.name}:${t.mount}/${w.path}: version ${w.previousVersion} is deleted or destroyed`,
          );
        }
      }
      return {
        target: w.target,
        sourcePath: w.path,
        sourceVersion: w.previousVersion,
        sourceData: restore?.data,
        targetPath: w.path,
        targetVersion: current.version,
        targetData: current.data,
      };
    });
    return { pairs, skipped: [], targetMetadata };
  }

  /**
   * The plan's pinned versions read again: a target that moved is a conflict (unless this plan itself
   * moved it in an earlier reconcile); the others come back as pairs to compute the plan again from.
   */
  async pinned(p: SecretPromotion, plan: PromotionPlan, key: FingerprintKey): Promise<PinnedReads> {
    const action = actionOf(plan);
    const overrides =
      action === 'promote' ? await this.overrides(p) : new Map<string, Record<string, unknown>>();
    const targetMetadata: TargetMetadata = new Map();
    const conflicts: ConflictRecord[] = [];
    const alreadyWritten: WriteRecord[] = [];
    const pairs: PairSnapshot[] = [];
    // The plan comes from status, which anyone who may patch status could have written: check every path.
    for (const e of plan.entries) {
      const t = targetOf(p, e.target);
      guardPath('status.plan target', t.mount, e.targetPath);
      guardPath(
        'status.plan source',
        action === 'rollback' ? t.mount : p.spec.source.mount,
        action === 'rollback' ? e.targetPath : e.sourcePath,
      );
      if (action === 'rollback' && e.sourcePath !== e.targetPath)
        throw new PlanError(
          Reason.InvalidSpec,
          `status.plan: a rollback entry restores ${e.targetPath} from another path (${e.sourcePath}): re-plan with ${Annotations.reconcileNow}`,
        );
    }
    await mapLimit(plan.entries, this.concurrency, async (e) => {
      const t = targetOf(p, e.target);
      const targetStore = this.stores.store(t.connection);
      const current = await targetStore.read(t.mount, e.targetPath);
      targetMetadata.set(pairKey(e.target, e.targetPath), current.customMetadata);
      if (current.version !== e.targetVersion) {
        const meta = current.customMetadata ?? {};
        if (meta[Provenance.plan] === plan.hash && meta[Provenance.version] === String(current.version)) {
          // Written by this very plan in an earlier, interrupted reconcile.
          alreadyWritten.push({
            target: e.target,
            path: e.targetPath,
            previousVersion: e.targetVersion,
            version: current.version,
          });
          return;
        }
        conflicts.push({
          target: e.target,
          path: e.targetPath,
          plannedVersion: e.targetVersion,
          currentVersion: current.version,
          changedKeys: changedKeysSince(e, current.data, key),
        });
        return;
      }
      let sourceData: SecretData | undefined;
      if (action === 'rollback') {
        if (e.sourceVersion > 0)
          sourceData = (await targetStore.read(t.mount, e.targetPath, e.sourceVersion)).data;
      } else {
        const s = p.spec.source;
        sourceData = (await this.stores.store(s.connection).read(s.mount, e.sourcePath, e.sourceVersion))
          .data;
      }
      pairs.push({
        target: e.target,
        sourcePath: e.sourcePath,
        sourceVersion: e.sourceVersion,
        sourceData,
        targetPath: e.targetPath,
        targetVersion: current.version,
        targetData: current.data,
        overrides: overrides.get(e.target),
      });
    });
    return { pairs, conflicts, alreadyWritten, targetMetadata };
  }

  /** Override values per target (latest versions), each source secret read once. */
  private async overrides(p: SecretPromotion): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    const cache = new Map<string, Promise<StoredSecret>>();
    for (const t of p.spec.targets) {
      const values: Record<string, unknown> = {};
      for (const o of t.overrides ?? []) {
        const from = o.valueFrom;
        const connection = from.connection ?? t.connection;
        const path = normalizeVaultPath(from.path);
        const where = `${connection}:${from.mount}/${path}`;
        if (isSigningKeyPath(from.mount, path))
          throw new PlanError(
            Reason.ForbiddenPath,
            `override ${o.key} reads ${where}, under ${SIGNING_KEYS_VAULT_PREFIX}`,
          );
        let read = cache.get(where);
        if (!read) {
          read = this.stores.store(connection).read(from.mount, path);
          cache.set(where, read);
        }
        const secret = await read;
        if (!secret.data || !(from.key in secret.data)) {
          throw new PlanError(
            Reason.SourceNotFound,
            `override ${o.key} for target ${t.name}: ${where} has no key ${from.key}`,
          );
        }
        values[o.key] = secret.data[from.key];
      }
      out.set(t.name, values);
    }
    return out;
  }
}
