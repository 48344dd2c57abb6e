// All safety checkers of one simulated run, shared by every node's driver and
// the cluster. Each method throws a Violation at the first broken property.

import { ElectionSafety } from "./election_safety";
import { LeaderAppendOnly } from "./leader_append_only";
import { LeaderCompleteness } from "./leader_completeness";
import { LogMatching } from "./log_matching";
import { ReadFreshness } from "./read_freshness";
import { StateMachineSafety } from "./state_machine_safety";

export class CheckerSuite {
  readonly electionSafety = new ElectionSafety();
  readonly logMatching = new LogMatching();
  readonly leaderCompleteness = new LeaderCompleteness();
  readonly leaderAppendOnly = new LeaderAppendOnly();
  readonly stateMachineSafety = new StateMachineSafety();
  readonly readFreshness = new ReadFreshness();
}
