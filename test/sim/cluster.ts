// A simulated cluster in one process: node drivers, the network between them
// and discrete time. One step = deliver the messages due, tick every running
// node, let the workload act (by the caller), handle every Ready, then run the
// end-of-step checks. Everything random comes from the run's seeded PRNG.

import { type ConfState, type Message, type NodeId, Role } from "../../src/raft/index";
import { checkLogsMatch } from "./checkers/log_matching";
import { sameConfState } from "./kv_model";
import { CheckerSuite } from "./checkers/suite";
import { Violation } from "./checkers/violation";
import { type CrashPoint, NodeDriver, type NodeOptions, type Sabotage } from "./driver";
import { Network, type NetworkFaults } from "./network";
import type { SimPrng } from "./prng";
import type { Trace } from "./trace";
import { describeMessage } from "./describe";

export interface ClusterOptions {
  /** Members at bootstrap (all voters). */
  initialVoters: NodeId[];
  /** Nodes that exist from the start with empty storage, outside the cluster until added. */
  spareNodes: NodeId[];
  node: NodeOptions;
  network: NetworkFaults;
  /** Per million: a running node skips a tick (its clock runs slow). */
  tickSkipPerMillion: number;
  /** Per million: a node handles its Ready right after a delivered message (more interleavings). */
  eagerReadyPerMillion: number;
  /** Per million per tick: a node's disk stalls, so its Readies wait (grow) for up to stallTicksMax ticks. */
  stallPerMillion: number;
  stallTicksMax: number;
  /** Per million: a message the network could not deliver is reported to the sender's core as unreachable. */
  reportUnreachablePerMillion: number;
  /** A node whose clock runs twice as fast (ticks twice per step), if any. */
  fastClockNode: NodeId | undefined;
  /** A node whose every message takes this much longer, if any. */
  slowNode: { id: NodeId; extraDelayTicks: number } | undefined;
  /** Only for the checkers' own end-to-end tests. */
  sabotage: Sabotage;
}

/** A node with work left after this many Ready rounds in one step is handled the next step. */
export const READY_ROUNDS_PER_STEP_MAX = 4;

export class Cluster {
  tick = 0;
  readonly network: Network;
  readonly checkers = new CheckerSuite();
  readonly drivers = new Map<NodeId, NodeDriver>();
  readonly ids: NodeId[];
  /** Decides, per Ready, whether the node crashes in it (set by the fault schedule). */
  crashPointFor: (node: NodeId) => CrashPoint = () => "none";
  /** Disk stalls, the fast clock and the slow node are faults: calm() ends them. */
  private faultsOn = true;
  private readonly stalledUntil = new Map<NodeId, number>();

  constructor(
    private readonly prng: SimPrng,
    readonly options: ClusterOptions,
    readonly trace: Trace,
  ) {
    this.network = new Network(prng.fork(), options.network);
    if (options.slowNode !== undefined) this.network.setSlowNode(options.slowNode.id, options.slowNode.extraDelayTicks);
    this.ids = [...options.initialVoters, ...options.spareNodes];
    const env = {
      checkers: this.checkers,
      trace,
      now: () => this.tick,
      send: (msg: Message) => this.send(msg),
      crashPoint: (node: NodeId) => this.crashPointFor(node),
      logOf: (node: NodeId) => this.drivers.get(node)?.shadow,
      sabotage: options.sabotage,
    };
    const bootstrap: ConfState = { voters: [...options.initialVoters], learners: [] };
    const empty: ConfState = { voters: [], learners: [] };
    for (const id of this.ids) {
      const confState = options.initialVoters.includes(id) ? bootstrap : empty;
      this.drivers.set(id, new NodeDriver(id, confState, prng.fork(), options.node, env));
    }
  }

  driver(id: NodeId): NodeDriver {
    const driver = this.drivers.get(id);
    if (driver === undefined) throw new Error(`no simulated node ${id}`);
    return driver;
  }

  upIds(): NodeId[] {
    return this.ids.filter((id) => this.driver(id).isUp());
  }

  /** The running leader with the highest term, if any. */
  leader(): NodeDriver | undefined {
    let best: NodeDriver | undefined;
    let bestTerm = -1;
    for (const id of this.ids) {
      const status = this.driver(id).status();
      if (status !== undefined && status.role === Role.Leader && status.term > bestTerm) {
        best = this.driver(id);
        bestTerm = status.term;
      }
    }
    return best;
  }

  /**
   * End the node-level faults (disk stalls, fast clock, slow links): Raft's
   * liveness needs round trips well inside an election timeout, which these
   * may break on purpose.
   */
  calm(): void {
    this.faultsOn = false;
    if (this.options.slowNode !== undefined) this.network.setSlowNode(this.options.slowNode.id, 0);
  }

  /** Deliver messages due now and tick every running node. */
  deliverAndTick(): void {
    this.tick++;
    this.maybeStallDisks();
    for (const msg of this.network.takeDue(this.tick)) {
      const driver = this.drivers.get(msg.to);
      if (driver === undefined || !driver.isUp()) continue;
      this.trace.add(this.tick, () => `deliver ${describeMessage(msg)}`);
      driver.node().step(msg);
      if (!this.isStalled(msg.to) && this.prng.chance(this.options.eagerReadyPerMillion)) driver.handleReady();
    }
    for (const id of this.ids) {
      const driver = this.driver(id);
      if (!driver.isUp() || this.prng.chance(this.options.tickSkipPerMillion)) continue;
      driver.node().tick();
      if (this.faultsOn && id === this.options.fastClockNode) driver.node().tick();
    }
  }

  /** Handle every node's Ready (a few rounds, in random order), then check the step's end state. */
  settle(): void {
    for (let round = 0; round < READY_ROUNDS_PER_STEP_MAX; round++) {
      let busy = false;
      for (const id of this.prng.shuffle([...this.ids])) {
        const driver = this.driver(id);
        if (driver.isUp() && !this.isStalled(id) && driver.hasWork()) {
          busy = true;
          driver.handleReady();
        }
      }
      if (!busy) break;
    }
    this.checkStepEnd();
  }

  /** Checks on every leader after the step: one per term, complete, append-only. */
  checkStepEnd(): void {
    for (const id of this.ids) {
      const driver = this.driver(id);
      const status = driver.status();
      if (status !== undefined && !sameConfState(status.confState, driver.kv.confState)) {
        throw new Violation(
          "membership",
          `${id} runs with membership ${JSON.stringify(status.confState)} but its applied entries give ${JSON.stringify(driver.kv.confState)}`,
        );
      }
      if (status === undefined || status.role !== Role.Leader) {
        this.checkers.leaderAppendOnly.observeNotLeader(id);
        continue;
      }
      this.checkers.electionSafety.observeLeader(id, status.term);
      if (!status.confState.voters.includes(id)) {
        throw new Violation("membership", `${id} still leads term ${status.term} after applying its own removal from the voters`);
      }
      // The log checks read the persisted log: only valid once the node has persisted everything.
      if (driver.hasWork()) continue;
      this.checkers.leaderCompleteness.checkLeader(id, status.term, driver.shadow);
      this.checkers.leaderAppendOnly.observeLeader(id, status.term, driver.shadow);
    }
  }

  /** Full comparisons that are too slow for every step: all log pairs, storage against the shadow log. */
  checkThoroughly(): void {
    for (let a = 0; a < this.ids.length; a++) {
      for (let b = a + 1; b < this.ids.length; b++) {
        const idA = this.ids[a] as NodeId;
        const idB = this.ids[b] as NodeId;
        checkLogsMatch(idA, this.driver(idA).shadow, idB, this.driver(idB).shadow);
      }
    }
    for (const id of this.ids) this.checkStorageMatchesShadow(this.driver(id));
  }

  private checkStorageMatchesShadow(driver: NodeDriver): void {
    const { storage, shadow } = driver;
    const same =
      storage.firstIndex() === shadow.snapshotIndex + 1 &&
      storage.lastIndex() === shadow.lastIndex() &&
      storage.term(shadow.snapshotIndex) === shadow.snapshotTerm;
    if (!same) {
      throw new Violation(
        "driver contract",
        `${driver.id}: MemoryStorage holds ${storage.firstIndex()}..${storage.lastIndex()}, ` +
          `the driver persisted ${shadow.snapshotIndex + 1}..${shadow.lastIndex()}`,
      );
    }
    for (let index = shadow.snapshotIndex + 1; index <= shadow.lastIndex(); index++) {
      if (storage.term(index) !== shadow.term(index)) {
        throw new Violation("driver contract", `${driver.id}: MemoryStorage has term ${storage.term(index)} at ${index}, persisted ${shadow.term(index)}`);
      }
    }
  }

  private send(msg: Message): void {
    const target = this.drivers.get(msg.to);
    const unreachable = target === undefined || !target.isUp() || this.network.isCut(msg.from, msg.to);
    if (unreachable && this.prng.chance(this.options.reportUnreachablePerMillion)) {
      this.driver(msg.from).node().reportUnreachable(msg.to);
    }
    this.network.send(msg, this.tick);
  }

  private isStalled(id: NodeId): boolean {
    return (this.stalledUntil.get(id) ?? 0) > this.tick;
  }

  private maybeStallDisks(): void {
    if (!this.faultsOn) {
      this.stalledUntil.clear();
      return;
    }
    for (const id of this.ids) {
      if (this.isStalled(id) || !this.prng.chance(this.options.stallPerMillion)) continue;
      const until = this.tick + this.prng.between(1, this.options.stallTicksMax);
      this.stalledUntil.set(id, until);
      this.trace.add(this.tick, () => `${id} disk stalls until t${until}`);
    }
  }
}
