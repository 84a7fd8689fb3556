import { k8s } from 'cdk8s-plus-34';

const { IntOrString } = k8s;

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

/**
 * An HTTP GET probe on a named container port. Liveness every 10 s and readiness every 5 s, three failures
 * each, is what all three workloads use; a startup probe passes a longer failure budget.
 */
export function httpProbe(
  path: string,
  portName: string,
  periodSeconds: number,
  failureThreshold = 3,
): k8s.Probe {
  return { httpGet: { path, port: IntOrString.fromString(portName) }, periodSeconds, failureThreshold };
}

/**
 * The services' probes (docs/contracts.md, "Health"): liveness and startup on `/healthz`, readiness on
 * `/readyz`, all on the admin listener (a port only monitoring, the operator and the kubelet reach: the
 * NetworkPolicies admit the node's addresses there). A minute to start (migrations, the first connections)
 * before liveness applies; `/healthz` checks no dependency, so an outage of one never restarts pods.
 */
export function adminProbes(
  portName = 'admin',
): Required<Pick<k8s.Container, 'livenessProbe' | 'readinessProbe' | 'startupProbe'>> {
  return {
    livenessProbe: httpProbe('/healthz', portName, 10),
    readinessProbe: httpProbe('/readyz', portName, 5),
    startupProbe: httpProbe('/healthz', portName, 2, 30),
  };
}

/** Replicas on different nodes where the scheduler can: losing one node does not take every replica. */
export function spreadOverNodes(selector: Record<string, string>): k8s.Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: 'kubernetes.io/hostname',
            labelSelector: { matchLabels: selector },
          },
        },
      ],
    },
  };
}
