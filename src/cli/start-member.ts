// Assembles a member from its configuration: storage, the peer network, the
// raft node (src/server) and the client API (src/api); stops them in the
// reverse order. It lives in cli because it is the one place that wires
// server and api together (api depends on server, never the reverse).
import { randomInt } from "node:crypto";
import { startApiServer, type ApiServerHandle } from "../api/index.ts";
import { Authenticator, parseAuthFile } from "../api/auth.ts";
import { AuthFileReloader } from "./auth-reload.ts";
import { readFileSync } from "node:fs";
import { COMMIT, VERSION } from "./version.ts";
import type { NodeConfig } from "../server/config.ts";
import { createLogger, type Logger } from "../server/logger.ts";
import { openMemberStorage } from "../server/member-storage.ts";
import { notifyReady, notifyStopping } from "../server/sd-notify.ts";
import { DkvNode } from "../server/node.ts";
import { createTcpPeerNetwork } from "../server/tcp-network.ts";
import { loadTlsFiles } from "../certs/index.ts";
import type { PeerTlsMaterial } from "../transport/index.ts";
import { CertificateReloader, type CertificateTarget, type PemMaterial } from "./certificate-reload.ts";
import { checkListenAddresses } from "./listen-check.ts";

/** Reads the --peer-* files; a missing or bad file is a one-line error naming it. */
function peerTlsMaterial(config: NodeConfig, log: Logger): PeerTlsMaterial | undefined {
  if (!config.peerTls) return undefined;
  const loaded = loadTlsFiles({ cert: config.peerTls.certFile, key: config.peerTls.keyFile, ca: config.peerTls.trustedCaFile });
  for (const warning of loaded.warnings) log.warn(warning);
  return { cert: loaded.cert, key: loaded.key, ca: loaded.ca ?? "" };
}

/**
 * Checks the client port's files the way the peer ones are checked (an
 * expired certificate or a key of another one is a one-line error; expiry
 * soon and a readable key are warnings) before the API server reads them.
 */
function checkClientTls(config: NodeConfig, log: Logger): PemMaterial | undefined {
  const files = clientTlsPaths(config);
  if (files === undefined) return undefined; // the API server explains a half-given pair
  const loaded = loadTlsFiles(files);
  for (const warning of loaded.warnings) log.warn(warning);
  return { cert: loaded.cert, key: loaded.key, ...(loaded.ca === undefined ? {} : { ca: loaded.ca }) };
}

/** The users of --auth-file, read before anything is created: a bad file is a one-line error. */
function loadAuth(config: NodeConfig, log: Logger): { auth: Authenticator; reloader: AuthFileReloader } | undefined {
  if (config.authFile === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(config.authFile, "utf8");
  } catch (error) {
    throw new Error(`cannot read --auth-file ${config.authFile}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const users = parseAuthFile(text, config.authFile);
  if (!config.clientTls) log.warn("--auth-file without --cert-file/--key-file: passwords cross the network in clear text");
  log.info("client API requires passwords", { users: users.length, file: config.authFile });
  const auth = new Authenticator(users);
  return { auth, reloader: new AuthFileReloader(config.authFile, auth, text, log) };
}

function clientTlsPaths(config: NodeConfig): { cert: string; key: string; ca?: string } | undefined {
  const files = config.clientTls;
  if (!files?.certFile || !files.keyFile) return undefined;
  return { cert: files.certFile, key: files.keyFile, ...(files.trustedCaFile ? { ca: files.trustedCaFile } : {}) };
}

export interface RunningMember {
  readonly log: Logger;
  readonly node: DkvNode;
  readonly clientPort: number;
  /** Resolves with the reason if the member cannot go on (its client port stopped serving, its storage failed); it should then stop. */
  readonly failure: Promise<string>;
  /** Reads the certificate files again now (SIGHUP); they are also checked every 10 s. False when the member runs without TLS. */
  reloadCertificates(): Promise<boolean>;
  /** Reads --auth-file again now (SIGHUP; also every 10 s): true if its users changed, undefined without one. */
  reloadAuthFile(): boolean | undefined;
  stop(): Promise<void>;
}

export async function startMember(config: NodeConfig): Promise<RunningMember> {
  const log = createLogger(config.name, config.logLevel);
  // Certificate files first: a bad one must not leave a new data dir behind.
  const tls = peerTlsMaterial(config, log);
  const clientTls = checkClientTls(config, log);
  const authFile = loadAuth(config, log);
  checkListenAddresses(config);
  const store = openMemberStorage(config, log);
  let api: ApiServerHandle | undefined;
  let node: DkvNode | undefined;
  let network: ReturnType<typeof createTcpPeerNetwork> | undefined;
  let reportFailure: (reason: string) => void = () => {};
  const failure = new Promise<string>((resolve) => (reportFailure = resolve));
  try {
    if (!config.peerTls) log.warn("peer traffic is plain TCP: set --peer-cert-file, --peer-key-file and --peer-trusted-ca-file for mutual TLS");

    network = createTcpPeerNetwork({ config, store, log, ...(tls ? { tls } : {}) });
    node = new DkvNode({
      config,
      store,
      network,
      log,
      version: `${VERSION} (${COMMIT})`,
      seed: randomInt(2 ** 31),
      onStorageFailure: (reason) => reportFailure(reason),
      onRemoved: (reason) => reportFailure(reason),
    });
    await node.start();
    api = await startApiServer({
      node,
      listenAddress: config.listenClientAddress,
      // JSON carries bytes as base64 (4/3 larger); the node checks the decoded sizes exactly.
      maxRequestBytes: Math.ceil((config.maxRequestBytes * 4) / 3 + 64 * 1024),
      ...(config.clientTls?.certFile ? { certFile: config.clientTls.certFile, keyFile: config.clientTls.keyFile } : {}),
      ...(config.clientTls?.trustedCaFile ? { trustedCaFile: config.clientTls.trustedCaFile } : {}),
      ...(config.listenMetricsAddress ? { metricsListenAddress: config.listenMetricsAddress } : {}),
      log: (line) => log.error(line),
      apiWorker: config.apiWorker,
      onFailure: (reason) => reportFailure(reason),
      ...(authFile ? { auth: authFile.auth } : {}),
    });
    log.info("serving clients", { address: config.listenClientAddress, tls: config.clientTls ? (config.clientTls.trustedCaFile ? "mutual" : "server") : "off" });
    notifyReady();
  } catch (error) {
    await api?.stop().catch(() => {});
    if (node) await node.stop().catch(() => {});
    else store.close();
    throw error;
  }
  const running = node;
  const handle = api;
  const peers = network!;
  const targets: CertificateTarget[] = [];
  if (config.peerTls && tls) {
    const files = { cert: config.peerTls.certFile, key: config.peerTls.keyFile, ca: config.peerTls.trustedCaFile };
    targets.push({ name: "peer", files, current: tls, apply: (m) => peers.replaceTls({ cert: m.cert, key: m.key, ca: m.ca ?? "" }) });
  }
  const clientFiles = clientTlsPaths(config);
  if (clientFiles && clientTls) targets.push({ name: "client", files: clientFiles, current: clientTls, apply: (m) => handle.replaceTls(m) });
  const reloader = new CertificateReloader(targets, log, (reason) => reportFailure(reason));
  reloader.start();
  authFile?.reloader.start();
  return {
    log,
    node: running,
    clientPort: handle.port,
    failure,
    async reloadCertificates() {
      if (!reloader.watching) return false;
      await reloader.check();
      return true;
    },
    reloadAuthFile() {
      return authFile === undefined ? undefined : authFile.reloader.check();
    },
    async stop() {
      reloader.stop();
      authFile?.reloader.stop();
      notifyStopping();
      await handle.stop();
      await running.stop();
    },
  };
}
