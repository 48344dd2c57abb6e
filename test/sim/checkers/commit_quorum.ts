// A leader commits an entry only once a majority of the voters has persisted
// it (Raft §5.3). Checked when a leader persists a higher commit index, against
// the logs the voters have durably persisted at that moment. (An entry a
// voter already compacted into its snapshot counts as held.)

import type { NodeId } from "../../../src/raft/types";
import type { LogView } from "../shadow_log";
import { Violation } from "./violation";

export function checkCommitQuorum(
  leader: NodeId,
  leaderTerm: number,
  index: number,
  indexTerm: number,
  voters: readonly NodeId[],
  logOf: (id: NodeId) => LogView | undefined,
): void {
  const holders: NodeId[] = [];
  for (const voter of voters) {
    const log = logOf(voter);
    if (log === undefined) continue;
    if (log.snapshotIndex >= index || log.term(index) === indexTerm) holders.push(voter);
  }
  const quorum = Math.floor(voters.length / 2) + 1;
  if (holders.length < quorum) {
    throw new Violation(
      "commit quorum",
      `${leader}, leader of term ${leaderTerm}, committed index ${index} (term ${indexTerm}) but only ` +
        `${holders.length} of the ${voters.length} voters [${voters.join(",")}] have persisted it (${holders.join(",") || "none"})`,
    );
  }
}
