// One seeded simulation, start to end: choose the scenario, run the faulty
// phase with every checker after every step, heal everything, then demand
// liveness within a bounded number of ticks. The same seed replays the same
// run exactly (no clock, no Math.random: only the seeded PRNG).

import { type NodeId, Role } from "../../src/raft/index";
import { checkLeaderElected, checkProposalsCommitted } from "./checkers/liveness";
import { Violation } from "./checkers/violation";
import { Cluster } from "./cluster";
import type { Sabotage } from "./driver";
import { fnvNumber } from "./digest";
import { FaultSchedule } from "./faults";
import { SimPrng } from "./prng";
import { chooseScenario, describeScenario, type Scenario } from "./scenario";
import { Trace } from "./trace";
import { Workload } from "./workload";

/** What a run exercised (summed over runs to show the simulator is not vacuous). */
export interface SimStats {
  nodes: number;
  faultProfile: string;
  crashes: number;
  partitions: number;
  outages: number;
  youngLeaderKills: number;
  snapshotsInstalled: number;
  snapshotsTaken: number;
  appliedBeforeSync: number;
  appliedDuringSync: number;
  writesAccepted: number;
  readsServed: number;
  confChangesAccepted: number;
  transfersStarted: number;
  messagesDropped: number;
  messagesDuplicated: number;
  termMax: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** The broken property, or "crash" when the run threw something that is not a Violation. */
  failure?: { property: string; message: string; stack?: string };
  ticks: number;
  scenario: string;
  summary: string;
  stats: SimStats;
  /** Digest of the end state: equal for equal seeds (determinism). */
  fingerprint: number;
  trace: Trace;
}

export interface SimOptions {
  trace: boolean;
  /** A deliberate driver bug, for the tests that check the checkers end to end. */
  sabotage?: Sabotage;
}

export function runSimulation(seed: number, options: SimOptions): SimResult {
  const prng = new SimPrng(seed);
  const scenario = chooseScenario(prng);
  if (options.sabotage !== undefined) scenario.cluster.sabotage = options.sabotage;
  const trace = new Trace(options.trace);
  const cluster = new Cluster(prng.fork(), scenario.cluster, trace);
  const faults = new FaultSchedule(prng.fork(), cluster, scenario.faults);
  const workload = new Workload(prng.fork(), cluster, scenario.workload);
  trace.add(0, () => `seed ${seed}: ${describeScenario(scenario)}`);
  let failure: SimResult["failure"];
  try {
    runPhases(scenario, cluster, faults, workload);
  } catch (error) {
    failure =
      error instanceof Violation
        ? { property: error.property, message: error.message }
        : { property: "crash", message: String(error), stack: (error as Error)?.stack };
    trace.add(cluster.tick, () => `FAILED: ${failure?.message}`);
  }
  return {
    seed,
    ok: failure === undefined,
    ...(failure === undefined ? {} : { failure }),
    ticks: cluster.tick,
    scenario: describeScenario(scenario),
    summary: summarize(cluster, workload),
    stats: collectStats(scenario, cluster, faults, workload),
    fingerprint: fingerprint(cluster, workload),
    trace,
  };
}

function runPhases(scenario: Scenario, cluster: Cluster, faults: FaultSchedule, workload: Workload): void {
  for (let t = 0; t < scenario.chaosTicks; t++) {
    faults.beforeTick();
    cluster.deliverAndTick();
    workload.act(true);
    cluster.settle();
  }
  faults.healAll();
  cluster.calm();
  cluster.network.setFaults(scenario.healedNetwork);
  const healTick = cluster.tick;
  for (let t = 0; t < scenario.quietWriteTicks; t++) {
    cluster.deliverAndTick();
    workload.act(false);
    cluster.settle();
  }
  const livenessTicksMax = scenario.livenessTicksBase + scenario.livenessTicksPerEntry * backlogEntries(cluster);
  let converged = false;
  for (let t = 0; t < livenessTicksMax && !converged; t++) {
    cluster.deliverAndTick();
    cluster.settle();
    converged = hasConverged(cluster, workload);
  }
  if (!converged) explainNoConvergence(cluster, workload, cluster.tick - healTick);
  cluster.checkThoroughly();
}

/** Entries between the least applied member (by its own view) and the longest log. */
function backlogEntries(cluster: Cluster): number {
  let lastIndexMax = 0;
  let appliedMin = Number.MAX_SAFE_INTEGER;
  for (const id of cluster.ids) {
    const driver = cluster.driver(id);
    lastIndexMax = Math.max(lastIndexMax, driver.shadow.lastIndex());
    const cs = driver.kv.confState;
    if (cs.voters.includes(id) || cs.learners.includes(id)) appliedMin = Math.min(appliedMin, driver.kv.applied);
  }
  return appliedMin === Number.MAX_SAFE_INTEGER ? 0 : Math.max(0, lastIndexMax - appliedMin);
}

/** A leader exists, every accepted proposal still in its log is committed, every member applied the leader's commit. */
function hasConverged(cluster: Cluster, workload: Workload): boolean {
  try {
    explainNoConvergence(cluster, workload, 0);
    return true;
  } catch (error) {
    if (error instanceof Violation) return false;
    throw error;
  }
}

function explainNoConvergence(cluster: Cluster, workload: Workload, ticksSinceHeal: number): void {
  const leader = cluster.leader();
  checkLeaderElected(leader?.id, ticksSinceHeal);
  const status = leader!.node().status();
  checkProposalsCommitted(workload.accepted, leader!.id, leader!.shadow, status.commit, ticksSinceHeal);
  const members: NodeId[] = [...status.confState.voters, ...status.confState.learners];
  for (const id of members) {
    const driver = cluster.driver(id);
    const applied = driver.kv.applied;
    if (applied < status.commit) {
      throw new Violation(
        "liveness",
        `member ${id} applied only up to ${applied} of leader ${leader!.id}'s commit ${status.commit} ` +
          `${ticksSinceHeal} ticks after the faults were healed`,
      );
    }
  }
  for (const id of cluster.ids) {
    const other = cluster.driver(id).status();
    if (id !== leader!.id && other?.role === Role.Leader) {
      throw new Violation(
        "liveness",
        `${id} still leads term ${other.term} ${ticksSinceHeal} ticks after the heal, beside ${leader!.id} (term ${status.term})`,
      );
    }
  }
}

function summarize(cluster: Cluster, workload: Workload): string {
  const net = cluster.network.stats;
  const w = workload.stats;
  const leader = cluster.leader();
  const status = leader?.node().status();
  const crashes = cluster.ids.reduce((sum, id) => sum + cluster.driver(id).crashCount, 0);
  return (
    `ticks=${cluster.tick} leader=${leader?.id ?? "none"} term=${status?.term ?? "-"} commit=${status?.commit ?? "-"} ` +
    `members=${status === undefined ? "-" : JSON.stringify(status.confState)} ` +
    `writes=${w.writesAccepted}/${w.writesAccepted + w.writesRefused} reads=${cluster.checkers.readFreshness.servedCount}/${w.readsStarted} ` +
    `confChanges=${w.confChangesAccepted} transfers=${w.transfersStarted} crashes=${crashes} ` +
    `msgs sent=${net.sent} delivered=${net.delivered} dropped=${net.dropped + net.cutDropped} dup=${net.duplicated}`
  );
}

function collectStats(scenario: Scenario, cluster: Cluster, faults: FaultSchedule, workload: Workload): SimStats {
  const drivers = cluster.ids.map((id) => cluster.driver(id));
  const sum = (f: (d: (typeof drivers)[number]) => number) => drivers.reduce((total, d) => total + f(d), 0);
  const net = cluster.network.stats;
  return {
    nodes: scenario.cluster.initialVoters.length,
    faultProfile: scenario.faults.name,
    crashes: sum((d) => d.crashCount),
    partitions: faults.partitionCount,
    outages: faults.outageCount,
    youngLeaderKills: faults.youngLeaderKills,
    snapshotsInstalled: sum((d) => d.snapshotsInstalled),
    snapshotsTaken: sum((d) => d.snapshotsTaken),
    appliedBeforeSync: sum((d) => d.appliedBeforeSync),
    appliedDuringSync: sum((d) => d.appliedDuringSync),
    writesAccepted: workload.stats.writesAccepted,
    readsServed: cluster.checkers.readFreshness.servedCount,
    confChangesAccepted: workload.stats.confChangesAccepted,
    transfersStarted: workload.stats.transfersStarted,
    messagesDropped: net.dropped + net.cutDropped,
    messagesDuplicated: net.duplicated,
    termMax: Math.max(...drivers.map((d) => d.storage.initialState().hardState.term)),
  };
}

function fingerprint(cluster: Cluster, workload: Workload): number {
  let h = fnvNumber(0x811c9dc5, cluster.tick);
  for (const id of cluster.ids) {
    const driver = cluster.driver(id);
    h = fnvNumber(h, driver.kv.history);
    h = fnvNumber(h, driver.kv.applied);
    h = fnvNumber(h, driver.storage.initialState().hardState.term);
    h = fnvNumber(h, driver.shadow.lastIndex());
  }
  const net = cluster.network.stats;
  for (const n of [net.sent, net.delivered, net.dropped, net.duplicated, workload.stats.writesAccepted, workload.stats.readsStarted]) {
    h = fnvNumber(h, n);
  }
  return h;
}
