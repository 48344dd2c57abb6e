// Election safety (Raft §5.2): at most one leader per term, ever.

import type { NodeId } from "../../../src/raft/types";
import { Violation } from "./violation";

export class ElectionSafety {
  private readonly leaderByTerm = new Map<number, NodeId>();

  /** Called whenever a node is seen in the leader role at `term`. */
  observeLeader(node: NodeId, term: number): void {
    const known = this.leaderByTerm.get(term);
    if (known === undefined) {
      this.leaderByTerm.set(term, node);
      return;
    }
    if (known !== node) {
      throw new Violation("election safety", `two leaders in term ${term}: ${known} and ${node}`);
    }
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaderByTerm.get(term);
  }
}
