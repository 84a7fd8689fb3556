// The operator runtime: what a controller can rely on. See DESIGN.md, "Operator runtime".
export { type BackoffPolicy, backoffDelay, TokenBucket } from './backoff.js';
export { KindClient } from './client.js';
export {
  Controller,
  type ControllerDeps,
  type ControllerFactory,
  type ControllerSpec,
  type ReconcileContext,
  type ReconcileResult,
  type Reconciler,
  specOrMetadataChanged,
} from './controller.js';
export { EventRecorder, type EventType, microTime } from './events.js';
export { addFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from './finalizers.js';
export { Informer, type InformerHandlers, LAST_APPLIED, stripForCache } from './informer.js';
export {
  apiVersionOf,
  collectionPath,
  DEFAULT_THROTTLE,
  describeError,
  isConflict,
  isGone,
  isNotFound,
  jsonPatch,
  keyOf,
  loadKubeConfig,
  mergePatch,
  type ResourceKind,
  serverSideApply,
  splitKey,
  statusCodeOf,
  ThrottleAwareKubeConfig,
  type ThrottleListener,
  type ThrottlePolicy,
  throttleWaitMs,
} from './kube.js';
export { LeaderElector } from './leader-election.js';
export {
  DEFAULT_MAX_CONCURRENT_RECONCILES,
  DEFAULT_RECONCILE_RATE,
  Manager,
  type ManagerOptions,
  type StopReason,
} from './manager.js';
export { RuntimeMetrics } from './metrics.js';
export { WorkQueue } from './queue.js';
export { createMergePatch, type StatusWriteMode, StatusWriter } from './status.js';
