// The fault schedule of one run: partitions (one node isolated, a minority cut
// from a majority, one-way cuts, the leader isolated) that come and heal,
// crashes at any time or at a chosen point of a node's Ready cycle, restarts
// from durable state, and the final heal after which liveness is checked.

import type { NodeId } from "../../src/raft/types";
import type { Cluster } from "./cluster";
import type { CrashPoint } from "./driver";
import type { SimPrng } from "./prng";

/** Probabilities per tick (or per Ready), in parts per million; durations in ticks. */
export interface FaultProfile {
  name: string;
  partitionPerMillion: number;
  partitionTicksMax: number;
  crashPerMillion: number;
  /** A node handling a Ready crashes at a random point of it. */
  crashInReadyPerMillion: number;
  downTicksMax: number;
  /** Nodes down at the same time, at most (an outage ignores it). */
  downNodesMax: number;
  /** Every node crashes at once (a power cut) and restarts within downTicksMax. */
  outagePerMillion: number;
  /** A crash or partition aims at the current leader (where Figure 8-like cases live). */
  leaderTargetedPerMillion: number;
  /**
   * A newly elected leader crashes or is cut off 1-3 ticks later, before its
   * first entry can commit: the window of Figure 8, of reads and membership
   * changes that must wait for that commit.
   */
  newLeaderDiesYoungPerMillion: number;
}

const CRASH_POINTS: readonly CrashPoint[] = ["before_persist", "after_persist", "mid_send", "mid_apply", "before_advance"];

export class FaultSchedule {
  private partitionHealTick = -1;
  private readonly downUntil = new Map<NodeId, number>();
  private healed = false;
  partitionCount = 0;
  youngLeaderKills = 0;
  private lastLeaderTerm = 0;
  /** A young leader scheduled to be cut off or crashed. */
  private youngLeaderDoom: { id: NodeId; term: number; tick: number; crash: boolean } | undefined;
  outageCount = 0;

  constructor(
    private readonly prng: SimPrng,
    private readonly cluster: Cluster,
    readonly profile: FaultProfile,
  ) {
    cluster.crashPointFor = (node) => this.crashPoint(node);
  }

  /** Faults for this tick (before messages are delivered). */
  beforeTick(): void {
    if (this.healed) return;
    const tick = this.cluster.tick;
    if (this.partitionHealTick >= 0 && tick >= this.partitionHealTick) this.healPartition();
    if (this.partitionHealTick < 0 && this.prng.chance(this.profile.partitionPerMillion)) this.startPartition();
    this.restartDueNodes();
    this.killYoungLeaders();
    if (this.prng.chance(this.profile.outagePerMillion)) this.outage();
    if (this.prng.chance(this.profile.crashPerMillion)) {
      const candidates = this.cluster.upIds();
      if (candidates.length > 0 && this.downUntil.size < this.profile.downNodesMax) {
        const leader = this.cluster.leader()?.id;
        const targeted = leader !== undefined && this.prng.chance(this.profile.leaderTargetedPerMillion);
        const id = targeted ? leader : this.prng.pick(candidates);
        this.cluster.driver(id).crash();
        this.noteDown(id);
      }
    }
  }

  /** The end of the faults: heal every link, restart every node, crash nothing more. */
  healAll(): void {
    this.healed = true;
    this.cluster.network.heal();
    this.partitionHealTick = -1;
    for (const id of [...this.downUntil.keys()].sort()) this.restart(id);
    for (const id of this.cluster.ids) {
      if (!this.cluster.driver(id).isUp()) this.restart(id);
    }
    this.cluster.trace.add(this.cluster.tick, () => "HEAL ALL");
  }

  private killYoungLeaders(): void {
    const leader = this.cluster.leader();
    const term = leader?.node().status().term ?? 0;
    if (leader !== undefined && term > this.lastLeaderTerm) {
      this.lastLeaderTerm = term;
      if (this.youngLeaderDoom === undefined && this.prng.chance(this.profile.newLeaderDiesYoungPerMillion)) {
        const tick = this.cluster.tick + this.prng.between(1, 3);
        this.youngLeaderDoom = { id: leader.id, term, tick, crash: this.prng.chance(500_000) };
      }
    }
    const doom = this.youngLeaderDoom;
    if (doom === undefined || this.cluster.tick < doom.tick) return;
    this.youngLeaderDoom = undefined;
    const driver = this.cluster.driver(doom.id);
    if (!driver.isUp() || driver.status()?.term !== doom.term) return;
    this.youngLeaderKills++;
    this.cluster.trace.add(this.cluster.tick, () => `young leader ${doom.id} of term ${doom.term} ${doom.crash ? "crashes" : "is isolated"}`);
    if (doom.crash) {
      if (this.downUntil.size >= this.profile.downNodesMax) return;
      driver.crash();
      this.noteDown(doom.id);
    } else if (this.partitionHealTick < 0) {
      this.cluster.network.isolate(doom.id, this.cluster.ids);
      this.partitionCount++;
      this.partitionHealTick = this.cluster.tick + this.prng.between(1, this.profile.partitionTicksMax);
    }
  }

  private outage(): void {
    this.outageCount++;
    this.cluster.trace.add(this.cluster.tick, () => "OUTAGE: every node crashes");
    for (const id of this.cluster.ids) {
      this.cluster.driver(id).crash();
      this.noteDown(id);
    }
  }

  private crashPoint(node: NodeId): CrashPoint {
    if (this.healed || this.downUntil.size >= this.profile.downNodesMax) return "none";
    if (!this.prng.chance(this.profile.crashInReadyPerMillion)) return "none";
    this.noteDown(node);
    return this.prng.pick(CRASH_POINTS);
  }

  private noteDown(id: NodeId): void {
    this.downUntil.set(id, this.cluster.tick + this.prng.between(0, this.profile.downTicksMax));
  }

  private restartDueNodes(): void {
    for (const [id, until] of [...this.downUntil.entries()]) {
      if (this.cluster.tick >= until) this.restart(id);
    }
  }

  private restart(id: NodeId): void {
    this.downUntil.delete(id);
    const driver = this.cluster.driver(id);
    if (!driver.isUp()) driver.start();
  }

  private startPartition(): void {
    const cluster = this.cluster;
    const everyone = cluster.ids;
    const network = cluster.network;
    const kind = this.prng.chance(this.profile.leaderTargetedPerMillion) ? 1 : this.prng.nextInt(5);
    let description: string;
    if (kind === 0) {
      const id = this.prng.pick(everyone);
      network.isolate(id, everyone);
      description = `isolate ${id}`;
    } else if (kind === 1) {
      const leader = cluster.leader()?.id ?? this.prng.pick(everyone);
      network.isolate(leader, everyone);
      description = `isolate leader ${leader}`;
    } else if (kind === 2) {
      const shuffled = this.prng.shuffle([...everyone]);
      const minoritySize = this.prng.between(1, Math.max(1, Math.floor((everyone.length - 1) / 2)));
      network.split(shuffled.slice(0, minoritySize), shuffled.slice(minoritySize));
      description = `split ${shuffled.slice(0, minoritySize).join(",")} | ${shuffled.slice(minoritySize).join(",")}`;
    } else {
      const cuts = this.prng.between(1, everyone.length);
      for (let k = 0; k < cuts; k++) {
        const from = this.prng.pick(everyone);
        const to = this.prng.pick(everyone.filter((id) => id !== from));
        network.cutOneWay(from, to);
      }
      description = `one-way cuts`;
    }
    this.partitionCount++;
    this.partitionHealTick = cluster.tick + this.prng.between(1, this.profile.partitionTicksMax);
    cluster.trace.add(cluster.tick, () => `PARTITION ${description}: ${network.describeCuts()} until t${this.partitionHealTick}`);
  }

  private healPartition(): void {
    this.cluster.network.heal();
    this.partitionHealTick = -1;
    this.cluster.trace.add(this.cluster.tick, () => "HEAL network");
  }
}
