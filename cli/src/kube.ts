import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { type Cluster, type Context, KubeConfig, type User } from '@kubernetes/client-node';
import { describeError } from '../../lib/errors.js';
import { CliError, ExitCode } from './errors.js';

/** How to reach the cluster, as kubectl's flags say it. */
export interface ConnectOptions {
  /** --kubeconfig; default KUBECONFIG (several paths merge) or ~/.kube/config, or in-cluster. */
  readonly kubeconfig?: string;
  readonly context?: string;
  /** -n; default the context's namespace, else `default`. */
  readonly namespace?: string;
  /** --as: impersonate this user. */
  readonly as?: string;
  /** --as-group: impersonate these groups (with --as). */
  readonly asGroups?: readonly string[];
  readonly requestTimeoutMs?: number;
}

/**
 * The kubeconfig as kubectl reads it: --kubeconfig, else every file of KUBECONFIG merged (the first file
 * that names a cluster, user or context wins, and the first current-context set wins; client-node's own
 * merge refuses a name two files share), else ~/.kube/config or the in-cluster account.
 */
export function loadKubeConfig(explicit: string | undefined, kubeconfigEnv: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  const files = explicit ? [explicit] : (kubeconfigEnv ?? '').split(path.delimiter).filter(Boolean);
  if (!files.length) {
    kc.loadFromDefault();
    return kc;
  }
  const merged = {
    clusters: [] as Cluster[],
    users: [] as User[],
    contexts: [] as Context[],
    currentContext: '',
  };
  const loaded = files
    .filter((f) => explicit || existsSync(f))
    .map((f) => {
      const one = new KubeConfig();
      one.loadFromFile(f);
      return one;
    });
  for (const one of loaded) {
    const add = <T extends { name: string }>(into: T[], items: readonly T[]) => {
      for (const item of items) if (!into.some((x) => x.name === item.name)) into.push(item);
    };
    add(merged.clusters, one.getClusters());
    add(merged.users, one.getUsers());
    add(merged.contexts, one.getContexts());
    merged.currentContext ||= one.getCurrentContext() ?? '';
  }
  kc.loadFromOptions(merged);
  return kc;
}

/** A Kubernetes Status as the apiserver answers a failed request. */
interface StatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
}

/**
 * A small apiserver client: the user's kubeconfig through @kubernetes/client-node (contexts, client
 * certificates, tokens, exec credential plugins), plain HTTP verbs, and kubectl's impersonation headers.
 */
export class KubeClient {
  private constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
    readonly contextName: string,
    private readonly opts: ConnectOptions,
  ) {}

  static connect(opts: ConnectOptions): KubeClient {
    let kc: KubeConfig;
    try {
      kc = loadKubeConfig(opts.kubeconfig, process.env.KUBECONFIG);
    } catch (err) {
      throw new CliError(
        `cannot read the kubeconfig: ${describeError(err)}`,
        ExitCode.usage,
        'set KUBECONFIG or --kubeconfig to a valid file',
      );
    }
    if (opts.context) {
      if (!kc.getContextObject(opts.context))
        throw new CliError(
          `no context "${opts.context}" in the kubeconfig`,
          ExitCode.usage,
          `known: ${kc
            .getContexts()
            .map((c) => c.name)
            .join(', ')}`,
        );
      kc.setCurrentContext(opts.context);
    }
    if (!kc.getCurrentCluster())
      throw new CliError(
        'the kubeconfig has no current cluster',
        ExitCode.usage,
        'pick one with --context or `kubectl config use-context`',
      );
    const ctx = kc.getContextObject(kc.getCurrentContext());
    const namespace = opts.namespace || ctx?.namespace || 'default';
    return new KubeClient(kc, namespace, kc.getCurrentContext(), opts);
  }

  /** The kubeconfig's context names (completion of --context). */
  contextNames(): string[] {
    return this.kc.getContexts().map((c) => c.name);
  }

  get server(): string {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster)
      throw new CliError(
        `the kubeconfig context ${this.contextName} names no cluster`,
        ExitCode.usage,
        'check the context with kubectl config view --minify',
      );
    return cluster.server;
  }

  /** The user the apiserver will see, as far as the client knows it (for messages). */
  get userDescription(): string {
    return this.opts.as ?? this.kc.getCurrentUser()?.name ?? 'the current user';
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<T> {
    const res = await this.raw(method, path, body, contentType);
    if (res.status >= 200 && res.status < 300) return (res.text ? JSON.parse(res.text) : {}) as T;
    throw this.apiError(method, path, res.status, res.text);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** GET of a non-JSON document (a replica's /metrics through the apiserver's proxy). */
  async getText(path: string): Promise<string> {
    const res = await this.raw('GET', path, undefined, 'application/json', '*/*');
    if (res.status >= 200 && res.status < 300) return res.text;
    throw this.apiError('GET', path, res.status, res.text);
  }

  /** A JSON merge patch (`null` removes a field, as for an annotation). */
  mergePatch<T>(path: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', path, patch, 'application/merge-patch+json');
  }

  private async raw(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    accept = 'application/json',
  ): Promise<{ status: number; text: string }> {
    const url = new URL(this.server.replace(/\/$/, '') + path);
    const options: https.RequestOptions = {
      method,
      headers: { accept, 'user-agent': 'kubectl-novapos' },
    };
    try {
      await this.kc.applyToHTTPSOptions(options);
    } catch (err) {
      throw new CliError(
        `cannot get credentials for context ${this.contextName}: ${describeError(err)}`,
        ExitCode.error,
        "check the kubeconfig user's exec plugin or token",
      );
    }
    const headers = options.headers as Record<string, string | string[]>;
    if (this.opts.as) headers['Impersonate-User'] = this.opts.as;
    if (this.opts.asGroups?.length) headers['Impersonate-Group'] = [...this.opts.asGroups];
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const lib = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { ...options, timeout: this.opts.requestTimeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(
          new CliError(
            `cannot reach the apiserver at ${this.server}: ${err.code ?? err.message}`,
            ExitCode.error,
            `check the context (${this.contextName}) and that the cluster is up`,
          ),
        ),
      );
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  private apiError(method: string, path: string, status: number, text: string): CliError {
    let body: StatusBody = {};
    try {
      body = JSON.parse(text) as StatusBody;
    } catch {
      body = { message: text.trim().slice(0, 200) };
    }
    const message = body.message || `${method} ${path}: HTTP ${status}`;
    if (status === 401)
      return new CliError(
        `the apiserver did not accept your credentials (${message})`,
        ExitCode.forbidden,
        `log in again for context ${this.contextName}`,
      );
    if (status === 403)
      return new CliError(message, ExitCode.forbidden, 'ask for the RBAC role in docs/cli.md#rbac');
    if (status === 404) return new CliError(message, ExitCode.notFound);
    if (status === 409)
      return new CliError(
        message,
        ExitCode.refused,
        'the resource changed while you looked at it: run the command again',
      );
    if (status === 422) return new CliError(message, ExitCode.refused);
    return new CliError(message, ExitCode.error);
  }
}
