// A node's configuration: etcd-like flags turned into one validated object,
// with every default in one place. Validation errors name the flag and say
// what a valid value looks like.

export interface InitialMember {
  name: string;
  peerAddress: string;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** When set, the other side must present a certificate signed by this CA. */
  trustedCaFile?: string;
}

export interface NodeConfig {
  name: string;
  dataDir: string;
  listenPeerAddress: string;
  listenClientAddress: string;
  advertisePeerAddress: string;
  advertiseClientAddress: string;
  initialCluster: InitialMember[];
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  peerTls?: Required<TlsFiles>;
  clientTls?: TlsFiles;
  listenMetricsAddress?: string;
  /** Users and roles for the client API (JSON, see src/api/auth.ts); absent: no passwords. */
  authFile?: string;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  snapshotCount: number;
  /** Writes are refused once keys and values would hold more bytes than this (the state lives in memory). */
  quotaBytes: number;
  /** Largest request accepted from a client. */
  maxRequestBytes: number;
  /** The client port is served from a thread of its own (HTTP beside raft) rather than raft's. Off by default. */
  apiWorker: boolean;
  logLevel: "debug" | "info" | "warn" | "error";
}

export const DEFAULTS = {
  name: "default",
  dataDir: "./dkv-data",
  listenPeerAddress: "127.0.0.1:2380",
  listenClientAddress: "127.0.0.1:2379",
  initialClusterState: "new",
  initialClusterToken: "dkv-cluster",
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  snapshotCount: 100_000,
  // etcd's default --quota-backend-bytes.
  quotaBytes: 2 * 1024 * 1024 * 1024,
  maxRequestBytes: 1.5 * 1024 * 1024,
  // Measured on the benchmark machine: reads lose more than writes gain (BENCHMARKS.md).
  apiWorker: false,
  logLevel: "info",
} as const;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** "host:port" with a port in 1..65535 (0 allowed for listening, meaning any free port). */
export function parseHostPort(value: string, flag: string, allowZeroPort = false): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.replace(/^[a-z]+:\/\//, ""));
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535 || (port === 0 && !allowZeroPort)) {
    throw new ConfigError(`--${flag} must be host:port (e.g. 127.0.0.1:2380), not "${value}"`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** "n0=host:port,n1=host:port" as etcd spells --initial-cluster (URL schemes are accepted and dropped). */
export function parseInitialCluster(value: string): InitialMember[] {
  const members: InitialMember[] = [];
  for (const part of value.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--initial-cluster entries must be name=host:port, not "${part}"`);
    const name = part.slice(0, eq);
    checkName(name, "initial-cluster");
    const { host, port } = parseHostPort(part.slice(eq + 1), "initial-cluster");
    if (members.some((m) => m.name === name)) throw new ConfigError(`--initial-cluster lists "${name}" twice`);
    members.push({ name, peerAddress: formatHostPort(host, port) });
  }
  return members;
}

function checkName(name: string, flag: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw new ConfigError(`--${flag}: member name "${name}" must be 1-63 letters, digits, ".", "_" or "-"`);
  }
}

/** Others must be able to dial what we advertise: a wildcard or ephemeral listen address cannot be it. */
function defaultAdvertise(listen: { host: string; port: number }, kind: "peer" | "client"): string {
  if (listen.host === "0.0.0.0" || listen.host === "::" || listen.port === 0) {
    throw new ConfigError(`--advertise-${kind}-address is needed when --listen-${kind}-address is a wildcard host or port 0`);
  }
  return formatHostPort(listen.host, listen.port);
}

function parseDurationMs(value: string | number, flag: string): number {
  if (typeof value === "number") return value;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new ConfigError(`--${flag} must be a duration like 100ms or 1s, not "${value}"`);
  const amount = Number(match[1]);
  const unit = match[2] ?? "ms";
  return Math.round(amount * (unit === "s" ? 1000 : unit === "m" ? 60_000 : 1));
}

function parsePositiveInt(value: string | number, flag: string): number {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`--${flag} must be a positive integer, not "${value}"`);
  return n;
}

/** The flags as citty hands them over (strings; absent ones undefined). */
export interface ServeFlags {
  name?: string;
  "data-dir"?: string;
  "listen-peer-address"?: string;
  "listen-client-address"?: string;
  "advertise-peer-address"?: string;
  "advertise-client-address"?: string;
  "initial-cluster"?: string;
  "initial-cluster-state"?: string;
  "initial-cluster-token"?: string;
  "peer-cert-file"?: string;
  "peer-key-file"?: string;
  "peer-trusted-ca-file"?: string;
  "cert-file"?: string;
  "key-file"?: string;
  "trusted-ca-file"?: string;
  "listen-metrics-address"?: string;
  "auth-file"?: string;
  "heartbeat-interval"?: string;
  "election-timeout"?: string;
  "snapshot-count"?: string;
  "quota-bytes"?: string;
  "api-worker"?: string;
  "log-level"?: string;
}

export function buildConfig(flags: ServeFlags): NodeConfig {
  const name = flags.name ?? DEFAULTS.name;
  checkName(name, "name");
  const listenPeer = parseHostPort(flags["listen-peer-address"] ?? DEFAULTS.listenPeerAddress, "listen-peer-address", true);
  const listenClient = parseHostPort(flags["listen-client-address"] ?? DEFAULTS.listenClientAddress, "listen-client-address", true);
  const advertisePeerAddress = flags["advertise-peer-address"] ?? defaultAdvertise(listenPeer, "peer");
  parseHostPort(advertisePeerAddress, "advertise-peer-address");
  const advertiseClientAddress = flags["advertise-client-address"] ?? defaultAdvertise(listenClient, "client");
  parseHostPort(advertiseClientAddress, "advertise-client-address");

  const state = flags["initial-cluster-state"] ?? DEFAULTS.initialClusterState;
  if (state !== "new" && state !== "existing") {
    throw new ConfigError(`--initial-cluster-state must be "new" or "existing", not "${state}"`);
  }
  const initialCluster = flags["initial-cluster"]
    ? parseInitialCluster(flags["initial-cluster"])
    : [{ name, peerAddress: advertisePeerAddress }];
  if (!initialCluster.some((m) => m.name === name)) {
    throw new ConfigError(`--initial-cluster must list this member's --name "${name}"`);
  }
  // A joiner learns where its peers are from this list until it has applied the member records.
  if (state === "existing" && !initialCluster.some((m) => m.name !== name)) {
    throw new ConfigError("--initial-cluster-state existing needs --initial-cluster listing the running members (and this one), as etcd does");
  }

  const peerFiles = [flags["peer-cert-file"], flags["peer-key-file"], flags["peer-trusted-ca-file"]];
  if (peerFiles.some(Boolean) && !peerFiles.every(Boolean)) {
    throw new ConfigError("peer TLS needs all three of --peer-cert-file, --peer-key-file and --peer-trusted-ca-file");
  }
  const peerTls = peerFiles.every(Boolean)
    ? { certFile: peerFiles[0]!, keyFile: peerFiles[1]!, trustedCaFile: peerFiles[2]! }
    : undefined;

  if (Boolean(flags["cert-file"]) !== Boolean(flags["key-file"])) {
    throw new ConfigError("client TLS needs both --cert-file and --key-file");
  }
  if (flags["trusted-ca-file"] && !flags["cert-file"]) {
    throw new ConfigError("--trusted-ca-file needs --cert-file and --key-file (client certificates are checked over TLS)");
  }
  const clientTls = flags["cert-file"]
    ? { certFile: flags["cert-file"], keyFile: flags["key-file"]!, ...(flags["trusted-ca-file"] ? { trustedCaFile: flags["trusted-ca-file"] } : {}) }
    : undefined;

  const heartbeatIntervalMs = parseDurationMs(flags["heartbeat-interval"] ?? DEFAULTS.heartbeatIntervalMs, "heartbeat-interval");
  const electionTimeoutMs = parseDurationMs(flags["election-timeout"] ?? DEFAULTS.electionTimeoutMs, "election-timeout");
  if (heartbeatIntervalMs < 10) throw new ConfigError("--heartbeat-interval must be at least 10ms");
  if (electionTimeoutMs < 3 * heartbeatIntervalMs) {
    throw new ConfigError(`--election-timeout (${electionTimeoutMs}ms) must be at least 3x --heartbeat-interval (${heartbeatIntervalMs}ms)`);
  }
  if (flags["listen-metrics-address"]) parseHostPort(flags["listen-metrics-address"], "listen-metrics-address", true);
  const apiWorker = flags["api-worker"] ?? String(DEFAULTS.apiWorker);
  if (apiWorker !== "true" && apiWorker !== "false") throw new ConfigError(`--api-worker must be true or false, not "${apiWorker}"`);
  const logLevel = flags["log-level"] ?? DEFAULTS.logLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError(`--log-level must be debug, info, warn or error, not "${logLevel}"`);
  }

  return {
    name,
    dataDir: flags["data-dir"] ?? DEFAULTS.dataDir,
    listenPeerAddress: formatHostPort(listenPeer.host, listenPeer.port),
    listenClientAddress: formatHostPort(listenClient.host, listenClient.port),
    advertisePeerAddress,
    advertiseClientAddress,
    initialCluster,
    initialClusterState: state,
    initialClusterToken: flags["initial-cluster-token"] ?? DEFAULTS.initialClusterToken,
    ...(peerTls ? { peerTls } : {}),
    ...(clientTls ? { clientTls } : {}),
    ...(flags["listen-metrics-address"] ? { listenMetricsAddress: flags["listen-metrics-address"] } : {}),
    ...(flags["auth-file"] ? { authFile: flags["auth-file"] } : {}),
    heartbeatIntervalMs,
    electionTimeoutMs,
    snapshotCount: parsePositiveInt(flags["snapshot-count"] ?? DEFAULTS.snapshotCount, "snapshot-count"),
    quotaBytes: parsePositiveInt(flags["quota-bytes"] ?? DEFAULTS.quotaBytes, "quota-bytes"),
    maxRequestBytes: DEFAULTS.maxRequestBytes,
    apiWorker: apiWorker === "true",
    logLevel: logLevel as NodeConfig["logLevel"],
  };
}
