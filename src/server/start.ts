// Assembles a member from its configuration: storage, the peer network, the
// raft node and the client API; stops them in the reverse order.
import { randomInt } from "node:crypto";
import { startApiServer, type ApiServerHandle } from "../api/index.ts";
import { COMMIT, VERSION } from "../cli/version.ts";
import type { NodeConfig } from "./config.ts";
import { createLogger, type Logger } from "./logger.ts";
import { openMemberStorage } from "./member-storage.ts";
import { notifyReady, notifyStopping } from "./sd-notify.ts";
import { DkvNode } from "./node.ts";
import { createTcpPeerNetwork } from "./tcp-network.ts";

export interface RunningMember {
  readonly log: Logger;
  readonly node: DkvNode;
  readonly clientPort: number;
  stop(): Promise<void>;
}

export async function startMember(config: NodeConfig): Promise<RunningMember> {
  const log = createLogger(config.name, config.logLevel);
  const store = openMemberStorage(config, log);
  let api: ApiServerHandle | undefined;
  let node: DkvNode | undefined;
  try {
    if (!config.peerTls) log.warn("peer traffic is plain TCP: set --peer-cert-file, --peer-key-file and --peer-trusted-ca-file for mutual TLS");

    const network = createTcpPeerNetwork({ config, store, log });
    node = new DkvNode({ config, store, network, log, version: `${VERSION} (${COMMIT})`, seed: randomInt(2 ** 31) });
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
  return {
    log,
    node: running,
    clientPort: handle.port,
    async stop() {
      notifyStopping();
      await handle.stop();
      await running.stop();
    },
  };
}
