import { randomBytes } from 'node:crypto';
import {
  EventsV1Api,
  type EventsV1Event,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../../../lib/log.js';
import { describeError, isNotFound, mergePatch } from './kube.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  readonly kubeConfig: KubeConfig;
  /** `reportingController`, e.g. `security.novapos.io/operator`. */
  readonly controller: string;
  /** `reportingInstance`: the pod name / identity. */
  readonly instance: string;
  readonly log: Logger;
  /** A repeat within this window joins the series of the first event; later it starts a new one. Default 30 min. */
  readonly seriesWindowMs?: number;
  readonly now?: () => number;
}

interface SeriesState {
  name: string;
  namespace: string;
  count: number;
  lastSeen: number;
}

const MAX_TRACKED = 4096;
const MAX_NOTE = 1024;

/** events.k8s.io MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Kubernetes Events (events.k8s.io/v1) about the objects a controller owns. The first occurrence creates an
 * Event; a repeat of the same (object, type, reason, action, note) within the window updates that Event's
 * `series` (count, lastObservedTime) instead of creating another. Recording never throws: a failed Event is
 * logged and the reconcile goes on. Notes must not contain secrets; they are cut at 1 KiB.
 */
export class EventRecorder {
  private readonly api: EventsV1Api;
  private readonly series = new Map<string, SeriesState>();
  private readonly now: () => number;

  constructor(private readonly opts: EventRecorderOptions) {
    this.api = opts.kubeConfig.makeApiClient(EventsV1Api);
    this.now = opts.now ?? Date.now;
  }

  async record(
    regarding: KubernetesObject,
    type: EventType,
    reason: string,
    action: string,
    note: string,
  ): Promise<void> {
    const meta = regarding.metadata ?? {};
    const namespace = meta.namespace || 'default';
    const text = note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE - 3)}...` : note;
    const seriesKey = [meta.uid, type, reason, action, text].join('\u0000');
    const now = this.now();
    const known = this.series.get(seriesKey);
    try {
      if (known && now - known.lastSeen < (this.opts.seriesWindowMs ?? 30 * 60_000)) {
        known.count += 1;
        known.lastSeen = now;
        try {
          await this.api.patchNamespacedEvent(
            {
              name: known.name,
              namespace: known.namespace,
              body: { series: { count: known.count, lastObservedTime: microTime(now) } },
            },
            mergePatch,
          );
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          // The Event expired (the apiserver keeps them for an hour): start a new one.
        }
      }
      const name = `${meta.name ?? 'object'}.${randomBytes(8).toString('hex')}`;
      const body = {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace },
        eventTime: microTime(now),
        reportingController: this.opts.controller,
        reportingInstance: this.opts.instance.slice(0, 128),
        action,
        reason,
        type,
        note: text,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
      } as unknown as EventsV1Event;
      await this.api.createNamespacedEvent({ namespace, body });
      this.series.delete(seriesKey);
      this.series.set(seriesKey, { name, namespace, count: 1, lastSeen: now });
      if (this.series.size > MAX_TRACKED) {
        const oldest = this.series.keys().next().value;
        if (oldest !== undefined) this.series.delete(oldest);
      }
    } catch (err) {
      this.opts.log.warn(
        { reason, object: `${namespace}/${meta.name}`, err: describeError(err) },
        'could not record event',
      );
    }
  }
}
