// Majority arithmetic as small pure functions: the commit index a set of
// voters supports, and the outcome of an election. Learners never appear here.

import type { NodeId } from "./types";

export type VoteResult = "won" | "lost" | "pending";

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index held by a majority of voters (match of a voter absent from
 * the map counts as 0). An empty voter set commits nothing.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  if (n === 1) return matchOf(voters[0]!);
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[quorumSize(n) - 1]!;
}

/** Election outcome given the answers so far (true = granted). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const need = quorumSize(voters.length);
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (voters.length === 0) return "lost";
  if (granted >= need) return "won";
  if (voters.length - rejected < need) return "lost";
  return "pending";
}

/** Whether the acknowledging set contains a majority of voters. */
export function hasQuorum(voters: readonly NodeId[], acked: (id: NodeId) => boolean): boolean {
  if (voters.length === 0) return false;
  let count = 0;
  for (const id of voters) if (acked(id)) count++;
  return count >= quorumSize(voters.length);
}
