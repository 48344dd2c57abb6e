// Options of the client API server, their defaults in one place, and the
// "host:port" parsing they need. Errors are ApiServerError with one line a
// person can act on (the CLI prints it as is).
import type { KvNode } from "../server/contract.js";
import type { LogFn } from "./errors.js";
import type { Authenticator } from "./auth.js";

/** Values are up to 1.5 MiB; 2 MiB leaves room for the key and the envelope. */
export const DEFAULT_MAX_REQUEST_BYTES = 2 * 1024 * 1024;
/** Bun closes keep-alive connections idle this long; a call in progress is not idle (checked). */
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 60;
/** A readiness check that takes longer answers 503: a probe must not hang. */
export const DEFAULT_READY_CHECK_TIMEOUT_MS = 2_000;
/** How long stop() lets calls in progress finish before cancelling them. */
export const DEFAULT_STOP_GRACE_MS = 2_000;

export interface ApiServerOptions {
  node: KvNode;
  /** "host:port"; port 0 picks a free port (see the handle's `port`). IPv6 as "[::1]:2379". */
  listenAddress: string;
  /** Optional plain-HTTP listener with only /healthz, /readyz and /metrics (no client certificates). */
  metricsListenAddress?: string;
  /** PEM certificate (chain) of the client port; with keyFile, the port speaks HTTPS. */
  certFile?: string;
  keyFile?: string;
  /** PEM CA bundle; when set (with cert and key), clients must present a certificate it signed. */
  trustedCaFile?: string;
  /** Request bodies larger than this are refused with resource_exhausted. Default 2 MiB. */
  maxRequestBytes?: number;
  /** Serve unary Connect POSTs on the lean path (default true); false = stock connect-es handler only. */
  leanUnary?: boolean;
  /**
   * Serve the client port from a second JavaScript thread, so HTTP handling
   * runs beside raft (default false: on the calling thread).
   */
  apiWorker?: boolean;
  /** Refuse Connect requests without "Connect-Protocol-Version: 1" (default false, so plain curl works). */
  requireConnectProtocolHeader?: boolean;
  idleTimeoutSeconds?: number;
  readyCheckTimeoutMs?: number;
  stopGraceMs?: number;
  /** The client port stopped serving by itself (the API worker ended); the owner should stop. It is logged either way. */
  onFailure?: (reason: string) => void;
  /** Where unexpected errors are reported, one line each. Default: stderr. */
  log?: LogFn;
  /** Users and roles (--auth-file): every RPC then needs a user whose role allows it. */
  auth?: Authenticator;
}

type OptionalOptions = "metricsListenAddress" | "certFile" | "keyFile" | "trustedCaFile" | "onFailure" | "auth";
export type ResolvedApiServerOptions = Required<Omit<ApiServerOptions, OptionalOptions>> & Pick<ApiServerOptions, OptionalOptions>;

export class ApiServerError extends Error {
  override name = "ApiServerError";
}

export function resolveOptions(options: ApiServerOptions): ResolvedApiServerOptions {
  const resolved = {
    maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
    leanUnary: true,
    apiWorker: false,
    requireConnectProtocolHeader: false,
    idleTimeoutSeconds: DEFAULT_IDLE_TIMEOUT_SECONDS,
    readyCheckTimeoutMs: DEFAULT_READY_CHECK_TIMEOUT_MS,
    stopGraceMs: DEFAULT_STOP_GRACE_MS,
    log: (line: string) => console.error(line),
    ...withoutUndefined(options),
    node: options.node,
    listenAddress: options.listenAddress,
  };
  if (!Number.isSafeInteger(resolved.maxRequestBytes) || resolved.maxRequestBytes < 1) {
    throw new ApiServerError(`maxRequestBytes must be a positive integer, got ${resolved.maxRequestBytes}`);
  }
  if (!Number.isInteger(resolved.idleTimeoutSeconds) || resolved.idleTimeoutSeconds < 0 || resolved.idleTimeoutSeconds > 255) {
    throw new ApiServerError(`idleTimeoutSeconds must be an integer from 0 to 255, got ${resolved.idleTimeoutSeconds}`);
  }
  return resolved;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export interface ListenAddress {
  hostname: string;
  port: number;
}

/** "127.0.0.1:2379", "localhost:0", "[::1]:2379" -> hostname and port. */
export function parseListenAddress(field: string, address: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) {
    throw new ApiServerError(`${field} ${JSON.stringify(address)} is not host:port (e.g. 127.0.0.1:2379, [::1]:2379, 0.0.0.0:0)`);
  }
  return { hostname: match[1] ?? match[2]!, port };
}
