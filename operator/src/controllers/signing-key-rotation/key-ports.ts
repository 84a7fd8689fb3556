import type { ServiceEndpoints } from '../../adapters/services/service-endpoints.js';

/** The ports of a referenced Service the operator calls for a key set (docs/contracts.md, "Service references"). */
export interface KeyPorts {
  /** `GET /keys/status`: the port named `http`, or `admin` when the Service has no `http` port. */
  readonly status?: number;
  /** `POST /keys/reload`: the port named `admin`, or `http` when the Service has no `admin` port. */
  readonly reload?: number;
}

/**
 * Which named port each key call goes to. A service with an API port answers its status there and takes the
 * reload on its admin port (the gateway: 8083 and 9083); a service whose only port is `admin` (the
 * audit-service, 9087) answers both there; one with only `http` takes both there. Neither: no port to call.
 */
export function keyPortsOf(eps: Pick<ServiceEndpoints, 'httpPort' | 'adminPort'>): KeyPorts {
  return { status: eps.httpPort ?? eps.adminPort, reload: eps.adminPort ?? eps.httpPort };
}
