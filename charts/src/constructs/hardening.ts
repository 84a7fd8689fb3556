import type { k8s } from 'cdk8s-plus-34';

/** The uid/gid every NovaPOS image runs as (its Dockerfile creates it). */
export const NON_ROOT_ID = 10001;

/**
 * Pod-level settings of the `restricted` Pod Security Standard, shared by the operator and both services so
 * a namespace enforcing it admits all three.
 */
export function restrictedPodSecurityContext(): k8s.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: NON_ROOT_ID,
    runAsGroup: NON_ROOT_ID,
    fsGroup: NON_ROOT_ID,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container-level settings of the `restricted` standard, plus a read-only root filesystem. */
export function restrictedContainerSecurityContext(): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
