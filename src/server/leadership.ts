// Moving the leadership on purpose: to a chosen voter (dkv member
// move-leader), away from a leader about to be removed, and to the most
// caught-up voter before a graceful stop. Each saves the cluster an election
// timeout without a leader.
import type { RaftNode, RaftStatus } from "../raft/index.ts";
import type { NodeConfig } from "./config.ts";
import { NodeError } from "./contract.ts";
import type { Logger } from "./logger.ts";
import type { RaftDriver } from "./raft-driver.ts";
import type { CancelSignal } from "./cancel-signal.ts";

export interface LeadershipDeps {
  config: NodeConfig;
  raft: RaftNode;
  driver: RaftDriver;
  log: Logger;
  /**
   * A linearizable read point: waits until this member applied everything
   * committed, which a new leader confirms only once it committed an entry of its term.
   */
  catchUp(signal?: CancelSignal): Promise<void>;
}

export class Leadership {
  constructor(private readonly d: LeadershipDeps) {}

  /** Before a graceful stop of the leader: hand over to the most caught-up voter and wait (bounded) until it took over. */
  async handOffBeforeStop(): Promise<void> {
    const status = this.d.raft.status();
    const candidates = status.confState.voters.filter((v) => v !== this.d.config.name);
    if (candidates.length === 0) return;
    const best = mostCaughtUp(candidates, status.progress);
    this.d.log.info("transferring leadership before shutdown", { to: best });
    this.d.driver.transferLeadership(best);
    const deadline = performance.now() + Math.min(3000, this.d.config.electionTimeoutMs * 2);
    while (this.d.driver.isLeader && performance.now() < deadline) await sleep(20);
  }

  /**
   * A leader that commits its own removal steps down, and writes wait an
   * election timeout for the next one; handing the lead over first costs a
   * round trip instead. If the hand-over fails, the removal goes ahead anyway.
   */
  async moveAwayFrom(id: string, signal?: CancelSignal): Promise<void> {
    const { confState, progress } = this.d.raft.status();
    const candidates = confState.voters.filter((v) => v !== id);
    if (candidates.length === 0) return;
    const self = this.d.config.name;
    // The leader knows who is most caught up; a follower picks itself, as it has the request in hand.
    const target = candidates.includes(self) ? self : mostCaughtUp(candidates, progress);
    try {
      await this.move(target, signal);
      // A new leader takes membership changes only once it committed an entry of its term; a read barrier waits for that.
      await this.d.catchUp(signal);
      this.d.log.info("moved the leadership away from a member before removing it", { member: id, leader: target });
    } catch (error) {
      this.d.log.warn("could not move the leadership before removing the leader; removing it anyway", { member: id, error: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Moves the leadership to `targetId`, a voter; resolves once it leads. */
  async move(targetId: string, signal?: CancelSignal): Promise<{ leaderId: string; raftTerm: number }> {
    const { raft, driver, config, log } = this.d;
    let status = raft.status();
    if (!status.confState.voters.includes(targetId)) {
      // This member may not have applied a promotion the leader already committed: catch up, then judge.
      await this.d.catchUp(signal);
      status = raft.status();
    }
    if (!status.confState.voters.includes(targetId)) {
      const what = status.confState.learners.includes(targetId) ? "is a learner, not a voter; wait until it is promoted" : "is not a voting member (see dkv member list)";
      throw new NodeError(status.confState.learners.includes(targetId) ? "failed_precondition" : "not_found", `member ${JSON.stringify(targetId)} ${what}`);
    }
    const waitMs = Math.max(3000, config.electionTimeoutMs * 3);
    const deadline = performance.now() + waitMs;
    let askedOf = "";
    let askedAt = 0;
    for (;;) {
      const leader = driver.leaderId;
      if (leader === targetId) return { leaderId: leader, raftTerm: raft.status().term };
      if (signal?.aborted) throw new NodeError("deadline_exceeded", "request cancelled by the client");
      if (performance.now() >= deadline) {
        throw new NodeError("unavailable", `leadership did not move to ${targetId} within ${waitMs} ms (is it caught up and reachable?); the leader is ${leader || "unknown"}`);
      }
      // A follower passes the request to the leader. The leader gives a transfer up after an
      // election timeout: ask again then, or at once when another member took the lead meanwhile.
      if (leader && (leader !== askedOf || performance.now() - askedAt > config.electionTimeoutMs)) {
        log.info("moving leadership on request", { from: leader, to: targetId });
        driver.transferLeadership(targetId);
        askedOf = leader;
        askedAt = performance.now();
      }
      await sleep(20);
    }
  }
}

/** The candidate whose log the leader knows to match furthest (its progress; followers have none). */
function mostCaughtUp(candidates: readonly string[], progress: RaftStatus["progress"]): string {
  return [...candidates].sort((a, b) => (progress?.[b]?.match ?? 0) - (progress?.[a]?.match ?? 0))[0]!;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
