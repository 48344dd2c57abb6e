// Liveness after the faults stop: a leader exists, and every proposal a leader
// accepted whose entry is still in that leader's log has committed.

import type { NodeId } from "../../../src/raft/types";
import type { LogView } from "../shadow_log";
import { Violation } from "./violation";

export interface AcceptedProposal {
  index: number;
  term: number;
  leader: NodeId;
}

export function checkLeaderElected(leader: NodeId | undefined, ticksSinceHeal: number): void {
  if (leader === undefined) {
    throw new Violation("liveness", `no leader ${ticksSinceHeal} ticks after the faults were healed`);
  }
}

/**
 * `leaderLog` and `leaderCommit` belong to the current leader. A proposal whose
 * (index, term) is still in that log must be committed; one that was replaced
 * by another entry has legitimately failed.
 */
export function checkProposalsCommitted(
  proposals: readonly AcceptedProposal[],
  leader: NodeId,
  leaderLog: LogView,
  leaderCommit: number,
  ticksSinceHeal: number,
): void {
  for (const proposal of proposals) {
    const inLog = proposal.index <= leaderLog.snapshotIndex || leaderLog.term(proposal.index) === proposal.term;
    if (!inLog) continue;
    if (proposal.index > leaderCommit) {
      throw new Violation(
        "liveness",
        `proposal at index ${proposal.index} term ${proposal.term} (accepted by ${proposal.leader}) is in leader ` +
          `${leader}'s log but not committed (commit ${leaderCommit}) ${ticksSinceHeal} ticks after the faults were healed`,
      );
    }
  }
}
