// The simulated clients: writes sent to whoever they believe leads (retrying
// elsewhere when refused), ReadIndex reads on any node, membership changes
// (remove and re-add, add a learner then promote it, add a fresh node) and
// leadership transfers. Every accepted write is remembered for the liveness
// check; every read is registered with the read-freshness checker first.

import { type ConfChange, ConfChangeType, type NodeId, RaftError, Role } from "../../src/raft/index";
import type { Cluster } from "./cluster";
import type { AcceptedProposal } from "./checkers/liveness";
import { encodeSet } from "./command";
import type { SimPrng } from "./prng";
import { encodeReadId } from "./read_context";

/** Probabilities per tick, in parts per million. */
export interface WorkloadRates {
  writePerMillion: number;
  readPerMillion: number;
  confChangePerMillion: number;
  transferPerMillion: number;
  /** A node is told to campaign now (an operator's or test's forced election). */
  campaignPerMillion: number;
}

export interface WorkloadOptions {
  rates: WorkloadRates;
  keys: string[];
  /** Per million writes: one carries 40-400 bytes of filler (bigger than some byte limits). */
  bigWritePerMillion: number;
  /** Membership changes never leave fewer voters than this, nor more members than membersMax. */
  votersMin: number;
  membersMax: number;
}

/** Nodes a client tries for one request before giving up. */
export const CLIENT_ATTEMPTS_MAX = 3;
/** Accepted proposals remembered for the liveness check. */
export const ACCEPTED_PROPOSALS_MAX = 100_000;

export interface WorkloadStats {
  writesAccepted: number;
  writesRefused: number;
  readsStarted: number;
  confChangesAccepted: number;
  transfersStarted: number;
}

export class Workload {
  readonly accepted: AcceptedProposal[] = [];
  readonly stats: WorkloadStats = { writesAccepted: 0, writesRefused: 0, readsStarted: 0, confChangesAccepted: 0, transfersStarted: 0 };
  private nextWriteId = 1;
  private nextReadId = 1;
  private leaderHint: NodeId | undefined;

  constructor(
    private readonly prng: SimPrng,
    private readonly cluster: Cluster,
    private readonly options: WorkloadOptions,
  ) {}

  /** One tick of client activity; `disruptive` allows membership changes, transfers and forced campaigns. */
  act(disruptive: boolean): void {
    const rates = this.options.rates;
    if (this.prng.chance(rates.writePerMillion)) this.write();
    if (this.prng.chance(rates.readPerMillion)) this.read();
    if (!disruptive) return;
    if (this.prng.chance(rates.confChangePerMillion)) this.changeMembership();
    if (this.prng.chance(rates.transferPerMillion)) this.transferLeadership();
    if (this.prng.chance(rates.campaignPerMillion)) this.forceCampaign();
  }

  write(): void {
    const writeId = this.nextWriteId++;
    const key = this.prng.pick(this.options.keys);
    const paddingBytes = this.prng.chance(this.options.bigWritePerMillion) ? this.prng.between(40, 400) : 0;
    const data = encodeSet({ writeId, key, paddingBytes });
    let target = this.pickTarget();
    for (let attempt = 0; attempt < CLIENT_ATTEMPTS_MAX && target !== undefined; attempt++) {
      try {
        const { index, term } = this.cluster.driver(target).node().propose(data);
        this.leaderHint = target;
        this.stats.writesAccepted++;
        if (this.accepted.length < ACCEPTED_PROPOSALS_MAX) this.accepted.push({ index, term, leader: target });
        this.cluster.trace.add(this.cluster.tick, () => `client write w${writeId} ${key} accepted by ${target} at ${index}/${term}`);
        return;
      } catch (error) {
        target = this.retryTarget(error);
      }
    }
    this.stats.writesRefused++;
  }

  read(): void {
    const up = this.cluster.upIds().filter((id) => this.isMember(id));
    if (up.length === 0) return;
    const target = this.prng.pick(up);
    const readId = this.nextReadId++;
    const key = this.prng.pick(this.options.keys);
    const checker = this.cluster.checkers.readFreshness;
    checker.beginRead(readId, target, key);
    const driver = this.cluster.driver(target);
    driver.noteRead(readId, key);
    try {
      driver.node().readIndex(encodeReadId(readId));
      this.stats.readsStarted++;
      this.cluster.trace.add(this.cluster.tick, () => `client read ${readId} "${key}" at ${target}`);
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
      checker.abandonRead(readId);
      driver.forgetRead(readId);
    }
  }

  private changeMembership(): void {
    const leader = this.cluster.leader();
    if (leader === undefined) return;
    const cs = leader.node().status().confState;
    const members = [...cs.voters, ...cs.learners];
    const outsiders = this.cluster.ids.filter((id) => !members.includes(id));
    const options: ConfChange[] = [];
    for (const learner of cs.learners) options.push(change(ConfChangeType.AddVoter, learner));
    if (cs.voters.length > this.options.votersMin) for (const voter of cs.voters) options.push(change(ConfChangeType.RemoveNode, voter));
    for (const learner of cs.learners) options.push(change(ConfChangeType.RemoveNode, learner));
    if (members.length < this.options.membersMax) {
      for (const outsider of outsiders) {
        options.push(change(ConfChangeType.AddLearner, outsider));
        options.push(change(ConfChangeType.AddVoter, outsider));
      }
    }
    if (options.length === 0) return;
    const cc = this.prng.pick(options);
    try {
      const { index } = leader.node().proposeConfChange(cc);
      this.stats.confChangesAccepted++;
      this.cluster.trace.add(this.cluster.tick, () => `client conf change ${ConfChangeType[cc.type]} ${cc.nodeId} accepted by ${leader.id} at ${index}`);
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
      this.cluster.trace.add(this.cluster.tick, () => `client conf change ${ConfChangeType[cc.type]} ${cc.nodeId} refused: ${error.reason}`);
    }
  }

  private transferLeadership(): void {
    const leader = this.cluster.leader();
    if (leader === undefined) return;
    const voters = leader.node().status().confState.voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const to = this.prng.pick(voters);
    try {
      leader.node().transferLeadership(to);
      this.stats.transfersStarted++;
      this.cluster.trace.add(this.cluster.tick, () => `client transfer leadership ${leader.id} -> ${to}`);
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
    }
  }

  private forceCampaign(): void {
    const up = this.cluster.upIds();
    if (up.length === 0) return;
    const id = this.prng.pick(up);
    const driver = this.cluster.driver(id);
    const status = driver.node().status();
    if (status.role === Role.Leader || !status.confState.voters.includes(id)) return;
    this.cluster.trace.add(this.cluster.tick, () => `client forces ${id} to campaign`);
    driver.node().campaign();
  }

  /** The node the client believes leads, else any running node. */
  private pickTarget(): NodeId | undefined {
    if (this.leaderHint !== undefined && this.cluster.driver(this.leaderHint).isUp()) return this.leaderHint;
    const up = this.cluster.upIds();
    return up.length === 0 ? undefined : this.prng.pick(up);
  }

  private retryTarget(error: unknown): NodeId | undefined {
    if (!(error instanceof RaftError)) throw error;
    if (error.reason === "bad_request") throw error;
    const hint = error.leaderHint;
    if (hint !== "" && this.cluster.drivers.has(hint) && this.cluster.driver(hint).isUp()) {
      this.leaderHint = hint;
      return hint;
    }
    this.leaderHint = undefined;
    const up = this.cluster.upIds();
    return up.length === 0 ? undefined : this.prng.pick(up);
  }

  private isMember(id: NodeId): boolean {
    const cs = this.cluster.driver(id).kv.confState;
    return cs.voters.includes(id) || cs.learners.includes(id);
  }
}

function change(type: ConfChangeType, nodeId: NodeId): ConfChange {
  return { type, nodeId, context: new Uint8Array(0) };
}
