// Everything about one run that the seed decides up front: cluster size, core
// options, fault profile, network faults, workload rates and durations.

import type { NodeId } from "../../src/raft/types";
import type { ClusterOptions } from "./cluster";
import type { FaultProfile } from "./faults";
import type { NetworkFaults } from "./network";
import type { SimPrng } from "./prng";
import type { WorkloadOptions } from "./workload";

export interface Scenario {
  cluster: ClusterOptions;
  faults: FaultProfile;
  workload: WorkloadOptions;
  /** Ticks with faults before everything is healed. */
  chaosTicks: number;
  /** Ticks after the heal during which clients still write and read. */
  quietWriteTicks: number;
  /**
   * After that, the cluster must converge within this many ticks plus
   * livenessTicksPerEntry for every entry some member still has to apply
   * (a backlog built during the faults drains at the configured speed).
   */
  livenessTicksBase: number;
  livenessTicksPerEntry: number;
  /** Network after the heal: no loss, short delays. */
  healedNetwork: NetworkFaults;
}

const PROFILES: readonly FaultProfile[] = [
  { name: "calm", partitionPerMillion: 0, partitionTicksMax: 1, crashPerMillion: 0, crashInReadyPerMillion: 0, downTicksMax: 0, downNodesMax: 0, outagePerMillion: 0, leaderTargetedPerMillion: 0, newLeaderDiesYoungPerMillion: 0 },
  { name: "partitions", partitionPerMillion: 40_000, partitionTicksMax: 60, crashPerMillion: 0, crashInReadyPerMillion: 0, downTicksMax: 0, downNodesMax: 0, outagePerMillion: 0, leaderTargetedPerMillion: 0, newLeaderDiesYoungPerMillion: 0 },
  { name: "crashes", partitionPerMillion: 0, partitionTicksMax: 1, crashPerMillion: 15_000, crashInReadyPerMillion: 3_000, downTicksMax: 40, downNodesMax: 2, outagePerMillion: 2_000, leaderTargetedPerMillion: 300_000, newLeaderDiesYoungPerMillion: 200_000 },
  { name: "everything", partitionPerMillion: 25_000, partitionTicksMax: 50, crashPerMillion: 8_000, crashInReadyPerMillion: 2_000, downTicksMax: 40, downNodesMax: 2, outagePerMillion: 1_000, leaderTargetedPerMillion: 300_000, newLeaderDiesYoungPerMillion: 200_000 },
  { name: "storm", partitionPerMillion: 80_000, partitionTicksMax: 25, crashPerMillion: 25_000, crashInReadyPerMillion: 8_000, downTicksMax: 15, downNodesMax: 3, outagePerMillion: 3_000, leaderTargetedPerMillion: 300_000, newLeaderDiesYoungPerMillion: 200_000 },
  { name: "leader churn", partitionPerMillion: 60_000, partitionTicksMax: 20, crashPerMillion: 60_000, crashInReadyPerMillion: 5_000, downTicksMax: 12, downNodesMax: 2, outagePerMillion: 0, leaderTargetedPerMillion: 900_000, newLeaderDiesYoungPerMillion: 700_000 },
];

export function chooseScenario(prng: SimPrng): Scenario {
  const size = prng.chance(500_000) ? 3 : 5;
  const initialVoters: NodeId[] = [];
  for (let k = 1; k <= size; k++) initialVoters.push(`n${k}`);
  const spareNodes: NodeId[] = [`n${size + 1}`];
  const electionTicks = prng.between(6, 16);
  const heartbeatTicks = prng.between(1, Math.max(1, Math.floor(electionTicks / 4)));
  const profile = prng.pick(PROFILES);
  const lossy = prng.chance(600_000);
  const delayTicksMax = prng.between(1, Math.max(1, Math.floor(electionTicks / 3)));
  return {
    cluster: {
      initialVoters,
      spareNodes,
      node: {
        electionTicks,
        heartbeatTicks,
        maxAppendBytes: prng.pick([48, 128, 512, 64 * 1024]),
        maxInflightAppends: prng.pick([1, 2, 4, 64]),
        maxSnapshotChunkBytes: prng.pick([16, 64, 256, 64 * 1024]),
        maxUncommittedBytes: prng.pick([512, 4096, 1024 * 1024]),
        compactEveryEntries: prng.between(1, 24),
        compactKeepEntries: prng.between(0, 4),
        asyncSync: prng.chance(500_000),
      },
      network: {
        dropPerMillion: lossy ? prng.between(0, 150_000) : 0,
        duplicatePerMillion: lossy ? prng.between(0, 80_000) : 0,
        delayTicksMin: 1,
        delayTicksMax,
        longDelayPerMillion: lossy ? prng.between(0, 30_000) : 0,
        longDelayTicksMax: delayTicksMax + prng.between(0, 4 * electionTicks),
      },
      tickSkipPerMillion: prng.pick([0, 20_000, 100_000]),
      eagerReadyPerMillion: prng.pick([0, 300_000, 1_000_000]),
      stallPerMillion: prng.pick([0, 5_000, 30_000]),
      stallTicksMax: prng.between(1, 2 * electionTicks),
      reportUnreachablePerMillion: prng.pick([0, 500_000]),
      fastClockNode: prng.chance(200_000) ? prng.pick(initialVoters) : undefined,
      slowNode: prng.chance(200_000) ? { id: prng.pick(initialVoters), extraDelayTicks: prng.between(1, electionTicks) } : undefined,
      sabotage: "none",
    },
    faults: profile,
    workload: {
      rates: {
        writePerMillion: prng.between(100_000, 900_000),
        readPerMillion: prng.between(50_000, 500_000),
        confChangePerMillion: prng.pick([0, 5_000, 20_000]),
        transferPerMillion: prng.pick([0, 3_000, 15_000]),
        campaignPerMillion: prng.pick([0, 0, 3_000]),
      },
      keys: ["a", "b", "c", "d", "e"].slice(0, prng.between(1, 5)),
      bigWritePerMillion: prng.pick([0, 100_000]),
      votersMin: 2,
      membersMax: size + 1,
    },
    chaosTicks: prng.between(150, 450),
    quietWriteTicks: 40,
    livenessTicksBase: 40 * electionTicks,
    livenessTicksPerEntry: 2 * (delayTicksMax + 1),
    healedNetwork: {
      dropPerMillion: 0,
      duplicatePerMillion: 0,
      delayTicksMin: 1,
      delayTicksMax,
      longDelayPerMillion: 0,
      longDelayTicksMax: delayTicksMax,
    },
  };
}

export function describeScenario(s: Scenario): string {
  const n = s.cluster.node;
  const net = s.cluster.network;
  return (
    `${s.cluster.initialVoters.length} nodes (+${s.cluster.spareNodes.length} spare), faults=${s.faults.name}, ` +
    `election=${n.electionTicks} heartbeat=${n.heartbeatTicks}, drop=${net.dropPerMillion / 1e4}% dup=${net.duplicatePerMillion / 1e4}% ` +
    `delay=${net.delayTicksMin}..${net.delayTicksMax} long=${net.longDelayPerMillion / 1e4}%..${net.longDelayTicksMax}, ` +
    `appendBytes=${n.maxAppendBytes} inflight=${n.maxInflightAppends} chunk=${n.maxSnapshotChunkBytes} ` +
    `compactEvery=${n.compactEveryEntries} keep=${n.compactKeepEntries}${n.asyncSync ? ", fsync in flight across steps" : ""}, chaos=${s.chaosTicks} ticks` +
    (s.cluster.fastClockNode === undefined ? "" : `, fast clock ${s.cluster.fastClockNode}`) +
    (s.cluster.slowNode === undefined ? "" : `, slow ${s.cluster.slowNode.id} +${s.cluster.slowNode.extraDelayTicks}`)
  );
}
