// A member's data dir as it starts: opened (refusing a foreign, newer or
// locked one), and for the first member of a new cluster, bootstrapped with
// itself as the only voter. A dir that already holds state is resumed and the
// --initial-cluster flags are ignored, as etcd does.
import { createHash } from "node:crypto";
import { ConfChangeType, EntryType, encodeConfChange } from "../raft/index.ts";
import { StorageError, openStorage, type Storage } from "../storage/index.ts";
import type { NodeConfig } from "./config.ts";
import type { Logger } from "./logger.ts";
import { encodeMemberContext } from "./members.ts";

/** Cluster id of a new cluster: the same for every member started with the same flags. */
export function newClusterId(config: NodeConfig): string {
  const members = config.initialCluster.map((m) => `${m.name}=${m.peerAddress}`).sort().join(",");
  return createHash("sha256").update(`${config.initialClusterToken}\n${members}`).digest("hex").slice(0, 16);
}

function isFresh(store: Storage): boolean {
  return store.log.lastIndex() === 0 && store.log.hardState().term === 0 && store.log.snapshotMeta().index === 0;
}

/** The first listed member of a new cluster starts it alone; the others are added as they appear. */
function bootstrap(store: Storage, config: NodeConfig, log: Logger): void {
  const self = { type: ConfChangeType.AddVoter, nodeId: config.name, context: encodeMemberContext({ peerAddress: config.advertisePeerAddress, clientAddress: config.advertiseClientAddress }) };
  store.persistReady({
    entries: [{ term: 1, index: 1, type: EntryType.ConfChange, data: encodeConfChange(self) }],
    hardState: { term: 1, vote: "", commit: 1 },
    snapshotChunks: [],
    bootstrapConfState: { voters: [config.name], learners: [] },
  });
  log.info("bootstrapped a new cluster", { clusterId: store.identity().clusterId, members: config.initialCluster.map((m) => m.name).join(",") });
}

/** Opens the member's data dir, bootstrapping a new cluster's first member; refuses a foreign or locked dir. */
export function openMemberStorage(config: NodeConfig, log: Logger): Storage {
  const fromFlags = config.initialClusterState === "new" ? newClusterId(config) : "";
  const store = openStorage(config.dataDir, { memberId: config.name });
  try {
    if (isFresh(store)) {
      const recorded = store.identity().clusterId;
      // A member that never got state, restarted with other flags, would otherwise bootstrap a cluster of its own under the first cluster's id.
      if (fromFlags && recorded && recorded !== fromFlags) {
        throw new StorageError(
          "identity_mismatch",
          config.dataDir,
          `data dir ${config.dataDir} was first started as a member of cluster ${recorded}, but --initial-cluster and --initial-cluster-token now make cluster ${fromFlags}; it holds no data yet: start it with the flags it was first started with, or empty it to start over`,
        );
      }
      if (fromFlags && !recorded) store.setIdentity({ clusterId: fromFlags, memberId: config.name });
      if (config.initialClusterState === "new" && config.initialCluster[0]!.name === config.name) bootstrap(store, config, log);
      else log.info("waiting to be added to the cluster", { state: config.initialClusterState });
    } else {
      log.info("resuming from the data dir; --initial-cluster flags are ignored", { dataDir: config.dataDir, clusterId: store.identity().clusterId || "(not yet known)" });
    }
  } catch (error) {
    store.close();
    throw error;
  }
  return store;
}

