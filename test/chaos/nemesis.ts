// The nemesis: one fault at a time on a ChaosCluster, each held for a few
// seconds and then healed: kill -9 (of one member, or all at once) and
// restart on the same data dir, a graceful stop (SIGTERM, as systemd or a
// rolling update does) of the leader with writes in flight and its restart,
// SIGSTOP/SIGCONT, power cuts (of one member, or all at once: what no fsync
// covered is lost, see test/power-cut), network partitions (one member isolated, minority /
// majority, a one-way cut, a non-transitive "bridge"), and removing then
// re-adding a member. Which faults, in what order, how long and on whom is
// drawn from a seed; faults aimed at "the leader" pick it when they start.
// Every step is logged with its time on the history's clock.
import { rmSync } from "node:fs";
import { waitFor } from "../e2e/cluster.ts";
import { CLIENT_PORT, type ChaosCluster, type ChaosMember } from "./cluster.ts";
import { Prng } from "./prng.ts";
import { rpc, type RpcResult } from "./workload.ts";

export type FaultKind =
  | "kill"
  | "kill-leader"
  | "kill-all"
  | "power-cut"
  | "power-cut-all"
  | "stop-leader"
  | "pause"
  | "pause-leader"
  | "isolate-leader"
  | "split"
  | "one-way"
  | "bridge"
  | "membership";

export const ALL_FAULTS: readonly FaultKind[] = ["kill", "kill-leader", "kill-all", "power-cut", "power-cut-all", "stop-leader", "pause", "pause-leader", "isolate-leader", "split", "one-way", "bridge", "membership"];

export interface Fault {
  kind: FaultKind;
  /** How long the fault lasts before it is healed. */
  holdMs: number;
  /** Seed for the fault's own choices (victims, sides, direction). */
  choiceSeed: number;
}

/** Faults that make sense for a cluster of `size` (a bridge needs five members), of `only` when given. */
export function faultsFor(size: number, only: readonly FaultKind[] = ALL_FAULTS): FaultKind[] {
  const kinds = ALL_FAULTS.filter((kind) => only.includes(kind) && (kind !== "bridge" || size >= 5));
  if (kinds.length === 0) throw new Error(`none of the faults ${only.join(", ")} can run on ${size} members`);
  return kinds;
}

/** Every fault kind once, in a seeded order: the short schedule CI runs. */
export function scheduleEachOnce(prng: Prng, size: number, holdMsMin: number, holdMsMax: number, only?: readonly FaultKind[]): Fault[] {
  const kinds = faultsFor(size, only);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  return kinds.map((kind) => ({ kind, holdMs: holdMsMin + prng.int(holdMsMax - holdMsMin + 1), choiceSeed: prng.int(2 ** 32) }));
}

/** Random faults filling about `durationMs` (each fault plus its quiet time counted as hold + quietMs). */
export function scheduleForDuration(prng: Prng, size: number, durationMs: number, holdMsMin: number, holdMsMax: number, quietMs: number, only?: readonly FaultKind[]): Fault[] {
  const kinds = faultsFor(size, only);
  const faults: Fault[] = [];
  let plannedMs = 0;
  while (plannedMs < durationMs && faults.length < 10_000) {
    const fault = { kind: prng.pick(kinds), holdMs: holdMsMin + prng.int(holdMsMax - holdMsMin + 1), choiceSeed: prng.int(2 ** 32) };
    faults.push(fault);
    plannedMs += fault.holdMs + quietMs;
  }
  return faults;
}

export function describeSchedule(faults: readonly Fault[]): string {
  return faults.map((f, i) => `${i + 1}. ${f.kind} for ${f.holdMs} ms (choice seed ${f.choiceSeed})`).join("\n");
}

export interface NemesisEvent {
  atMs: number;
  text: string;
}

/** How long the cluster may take to have a leader with every voter again after a heal. */
export const RECOVERY_DEADLINE_MS = 30_000;
const MEMBERSHIP_CALL_TIMEOUT_MS = 3_000;
const MEMBERSHIP_DEADLINE_MS = 20_000;
/** How long a removed member keeps running before it is killed: its removal must stick meanwhile. */
const REMOVAL_SETTLE_MS = 1_500;

export class Nemesis {
  readonly events: NemesisEvent[] = [];

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly clock: () => number,
  ) {}

  log(text: string): void {
    this.events.push({ atMs: this.clock(), text });
  }

  describeEvents(): string {
    return this.events.map((e) => `${e.atMs.toFixed(0).padStart(8)} ms  ${e.text}`).join("\n");
  }

  /** Injects one fault, holds it, heals it, and waits until the cluster has a leader with every voter again. */
  async run(fault: Fault): Promise<void> {
    const heal = await this.inject(fault, new Prng(fault.choiceSeed));
    await Bun.sleep(fault.holdMs); // the fault's duration is the point: nothing to wait for
    await heal();
    const leader = await this.cluster.waitForVoters(this.cluster.voters(), RECOVERY_DEADLINE_MS).catch((error: Error) => {
      throw new Error(`the cluster did not recover within ${RECOVERY_DEADLINE_MS} ms after healing "${fault.kind}": ${error.message}`);
    });
    this.log(`recovered: leader ${leader.name}`);
  }

  /** Starts the fault; returns what heals it. */
  private async inject(fault: Fault, prng: Prng): Promise<() => Promise<void>> {
    switch (fault.kind) {
      case "kill":
        return this.kill(prng.pick(this.cluster.running()));
      case "kill-leader":
        return this.kill(await this.leaderOr(prng));
      case "kill-all":
        return this.killAll();
      case "power-cut":
        return this.powerCut([prng.int(2) === 0 ? await this.leaderOr(prng) : prng.pick(this.cluster.running())], prng);
      case "power-cut-all":
        return this.powerCut(this.cluster.running(), prng);
      case "stop-leader":
        return this.stop(await this.leaderOr(prng));
      case "pause":
        return this.pause(prng.pick(this.cluster.running()));
      case "pause-leader":
        return this.pause(await this.leaderOr(prng));
      case "isolate-leader":
        return this.isolate(await this.leaderOr(prng));
      case "split":
        return this.split(prng);
      case "one-way":
        return this.oneWay(await this.leaderOr(prng), prng);
      case "bridge":
        return this.bridge(prng);
      case "membership":
        return this.removeAndReadd(prng.int(2) === 0 ? await this.leaderOr(prng) : prng.pick(this.cluster.running()));
    }
  }

  private async leaderOr(prng: Prng): Promise<ChaosMember> {
    return (await this.cluster.leader()) ?? prng.pick(this.cluster.running());
  }

  private async kill(m: ChaosMember): Promise<() => Promise<void>> {
    this.log(`kill -9 ${m.name}`);
    await this.cluster.kill(m);
    return async () => {
      this.log(`restart ${m.name} on its data dir`);
      this.cluster.start(m);
    };
  }

  /** SIGTERM: the member hands its lead over and ends the writes it holds; none may be applied twice or lost. */
  private async stop(m: ChaosMember): Promise<() => Promise<void>> {
    this.log(`SIGTERM ${m.name}`);
    const code = await this.cluster.stop(m);
    this.log(`${m.name} exited with ${code}`);
    if (code !== 0) throw new Error(`${m.name} did not stop cleanly on SIGTERM (exit ${code}); its log:\n${m.output.join("").split("\n").slice(-15).join("\n")}`);
    return async () => {
      this.log(`restart ${m.name} on its data dir`);
      this.cluster.start(m);
    };
  }

  /** Every member at once: acknowledged writes must survive a whole-cluster crash. */
  private async killAll(): Promise<() => Promise<void>> {
    const members = this.cluster.running();
    this.log(`kill -9 every member (${names(members)})`);
    await Promise.all(members.map((m) => this.cluster.kill(m)));
    return async () => {
      this.log(`restart ${names(members)} on their data dirs`);
      for (const m of members) this.cluster.start(m);
    };
  }

  /** Acknowledged writes must survive losing what the members had not fsynced (all of it, or some of it). */
  private async powerCut(members: ChaosMember[], prng: Prng): Promise<() => Promise<void>> {
    const partly = prng.int(2) === 0;
    this.log(`power cut of ${names(members)}${partly ? " (some unsynced pages written back)" : ""}`);
    const reports = await this.cluster.powerCut(members, partly ? { writeback: () => prng.next() } : {});
    reports.forEach((report, i) => {
      const lost = [...report.changedFiles, ...report.lostNames.map((name) => `${name} (name)`)];
      this.log(`${members[i]!.name}'s disk kept ${report.files} files; lost ${lost.length === 0 ? "nothing" : lost.join(", ")}`);
    });
    return async () => {
      this.log(`restart ${names(members)} on what their disks kept`);
      for (const m of members) this.cluster.start(m);
    };
  }

  private async pause(m: ChaosMember): Promise<() => Promise<void>> {
    this.log(`SIGSTOP ${m.name}`);
    this.cluster.pause(m);
    return async () => {
      this.log(`SIGCONT ${m.name}`);
      this.cluster.resume(m);
    };
  }

  private async isolate(m: ChaosMember): Promise<() => Promise<void>> {
    const others = this.cluster.members.filter((o) => o !== m);
    this.log(`isolate ${m.name} from ${names(others)}`);
    await this.cluster.network.partition([m.index], others.map((o) => o.index));
    return () => this.healNetwork();
  }

  /** A minority and a majority; the leader lands on either side. */
  private async split(prng: Prng): Promise<() => Promise<void>> {
    const shuffled = shuffle(prng, [...this.cluster.members]);
    const minority = shuffled.slice(0, Math.floor((shuffled.length - 1) / 2));
    const majority = shuffled.slice(minority.length);
    this.log(`split ${names(minority)} | ${names(majority)}`);
    await this.cluster.network.partition(minority.map((m) => m.index), majority.map((m) => m.index));
    return () => this.healNetwork();
  }

  /** One direction only, between the leader and everyone else. */
  private async oneWay(leader: ChaosMember, prng: Prng): Promise<() => Promise<void>> {
    const others = this.cluster.members.filter((o) => o !== leader);
    const inbound = prng.int(2) === 0;
    this.log(inbound ? `one-way: ${leader.name} hears nobody (${names(others)} -> ${leader.name} dropped)` : `one-way: nobody hears ${leader.name} (${leader.name} -> ${names(others)} dropped)`);
    for (const o of others) await (inbound ? this.cluster.network.cut(o.index, leader.index) : this.cluster.network.cut(leader.index, o.index));
    return () => this.healNetwork();
  }

  /** Two halves that cannot talk, and one member that talks to both. */
  private async bridge(prng: Prng): Promise<() => Promise<void>> {
    const shuffled = shuffle(prng, [...this.cluster.members]);
    const middle = Math.floor(shuffled.length / 2);
    const left = shuffled.slice(0, middle);
    const right = shuffled.slice(middle + 1);
    this.log(`bridge: ${names(left)} | ${shuffled[middle]!.name} | ${names(right)} (the outer sides cannot talk)`);
    await this.cluster.network.partition(left.map((m) => m.index), right.map((m) => m.index));
    return () => this.healNetwork();
  }

  private async healNetwork(): Promise<void> {
    this.log("heal the network");
    await this.cluster.network.heal();
  }

  /** LeaveServer, kill and wipe the member; on heal, JoinServer it under the same name and start it empty. */
  private async removeAndReadd(m: ChaosMember): Promise<() => Promise<void>> {
    this.log(`remove ${m.name} (LeaveServer)`);
    await this.membershipCall("dkv.v1.MembershipAPI/LeaveServer", { id: m.name }, m);
    const gone = (ids: string[]) => !ids.includes(m.name);
    await this.waitForConfiguration(gone, `${m.name} gone from the configuration`, MEMBERSHIP_DEADLINE_MS);
    m.removed = true;
    // The removed member keeps running a while: it must neither come back (FINDINGS.md C1) nor disrupt the rest.
    this.log(`${m.name} removed; it keeps running for ${REMOVAL_SETTLE_MS} ms`);
    await Bun.sleep(REMOVAL_SETTLE_MS);
    const ids = await waitFor("a leader's configuration", MEMBERSHIP_DEADLINE_MS, async () => {
      const leader = await this.cluster.leader();
      return leader ? this.configuration(leader) : undefined;
    });
    if (!gone(ids)) throw new Error(`${m.name} is back in the configuration (${ids.join(",")}) ${REMOVAL_SETTLE_MS} ms after LeaveServer (FINDINGS.md C1 again)`);
    await this.cluster.kill(m);
    rmSync(m.dataDir, { recursive: true, force: true });
    this.log(`${m.name} removed, killed, data wiped`);
    return async () => {
      this.log(`re-add ${m.name} (JoinServer, empty data dir)`);
      await this.membershipCall("dkv.v1.MembershipAPI/JoinServer", { id: m.name, address: this.cluster.peerAddress(m), rpcAddress: `${m.host}:${CLIENT_PORT}` }, m);
      m.removed = false;
      m.generation++;
      // A joiner learns where its peers are from --initial-cluster (it cannot answer the leader otherwise).
      const initial = this.cluster.voters().map((o) => `${o.name}=${this.cluster.peerAddress(o)}`).join(",");
      this.cluster.start(m, ["--initial-cluster", initial, "--initial-cluster-state", "existing"]);
    };
  }

  /**
   * A membership request through any running member other than `about`,
   * retried while the answer says it certainly did nothing. An unknown
   * outcome is checked against the configuration afterwards.
   */
  private async membershipCall(method: string, body: Record<string, unknown>, about: ChaosMember): Promise<void> {
    const deadline = Date.now() + MEMBERSHIP_DEADLINE_MS;
    const wantIn = method.endsWith("JoinServer");
    let last: RpcResult | undefined;
    while (Date.now() < deadline) {
      const via = this.cluster.running().filter((o) => o !== about && !o.paused);
      if (via.length === 0) break;
      for (const o of via) {
        last = await rpc(this.cluster.endpoint(o), method, body, MEMBERSHIP_CALL_TIMEOUT_MS);
        if (last.kind === "answer") return;
        // Already there / already gone: what we wanted holds.
        if (last.kind === "error" && (last.code === "already_exists" ? wantIn : last.code === "not_found" && !wantIn)) return;
        const ids = await this.configuration(o);
        if (ids && ids.includes(String(body.id)) === wantIn) return;
      }
      await Bun.sleep(200);
    }
    throw new Error(`${method} ${JSON.stringify(body)} did not succeed within ${MEMBERSHIP_DEADLINE_MS} ms (last: ${JSON.stringify(last)})`);
  }

  private async configuration(via: ChaosMember): Promise<string[] | undefined> {
    const result = await rpc(this.cluster.endpoint(via), "dkv.v1.MembershipAPI/GetServers", {}, 1000);
    if (result.kind !== "answer") return undefined;
    return ((result.body.servers as Array<{ id: string }> | undefined) ?? []).map((s) => s.id);
  }

  private async waitForConfiguration(predicate: (ids: string[]) => boolean, what: string, deadlineMs: number): Promise<void> {
    await waitFor(what, deadlineMs, async () => {
      const leader = await this.cluster.leader();
      const ids = leader ? await this.configuration(leader) : undefined;
      return ids !== undefined && predicate(ids);
    }, 100);
  }

  /** Undoes whatever is still in effect: the network, paused and stopped members (not the removed ones). */
  async healAll(): Promise<void> {
    await this.cluster.network.heal();
    for (const m of this.cluster.members) {
      if (m.paused) this.cluster.resume(m);
      if (!m.process && !m.removed) this.cluster.start(m);
    }
    this.log("heal everything");
  }
}

function names(members: ChaosMember[]): string {
  return members.map((m) => m.name).join(",");
}

function shuffle<T>(prng: Prng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
