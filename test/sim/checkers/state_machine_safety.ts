// State machine safety (Raft §5.4.3): every node applies the same entry at
// each index, in order, exactly once: each node's applied sequence is a prefix
// of the longest. A snapshot restore jumps a node forward; it must land on the
// same history (compared by a digest chained over every applied entry).

import type { NodeId } from "../../../src/raft/types";
import { chainDigest, EMPTY_HISTORY_DIGEST } from "../digest";
import { Violation } from "./violation";

interface AppliedRecord {
  node: NodeId;
  /** Unknown (undefined) when the index was first reached through a snapshot restore. */
  term: number | undefined;
  contentDigest: number | undefined;
  historyDigest: number;
}

interface NodeProgress {
  index: number;
  history: number;
}

export class StateMachineSafety {
  /** The one history every node must follow, indexed by log index. */
  private readonly history = new Map<number, AppliedRecord>();
  private readonly progress = new Map<NodeId, NodeProgress>();
  private longest = 0;

  appliedIndex(node: NodeId): number {
    return this.progress.get(node)?.index ?? 0;
  }

  longestApplied(): number {
    return this.longest;
  }

  /** `node` applied the entry at `index` to its state machine. */
  observeApply(node: NodeId, index: number, term: number, contentDigest: number): number {
    const before = this.progressOf(node);
    if (index !== before.index + 1) {
      throw new Violation(
        "state machine safety",
        `${node} applied index ${index} right after index ${before.index} ` +
          (index <= before.index ? "(applied twice or backwards)" : "(skipped entries)"),
      );
    }
    const historyDigest = chainDigest(before.history, index, term, contentDigest);
    const known = this.history.get(index);
    if (known === undefined) {
      this.history.set(index, { node, term, contentDigest, historyDigest });
    } else if (known.term === undefined) {
      if (known.historyDigest !== historyDigest) {
        throw new Violation(
          "state machine safety",
          `${node} reached index ${index} with a history different from ${known.node}'s snapshot at that index`,
        );
      }
      this.history.set(index, { node, term, contentDigest, historyDigest });
    } else if (known.term !== term || known.contentDigest !== contentDigest || known.historyDigest !== historyDigest) {
      throw new Violation(
        "state machine safety",
        `${node} applied term ${term} at index ${index} but ${known.node} applied term ${known.term}` +
          (known.term === term ? " with different content or history" : ""),
      );
    }
    this.progress.set(node, { index, history: historyDigest });
    this.longest = Math.max(this.longest, index);
    return historyDigest;
  }

  /** `node` replaced its state machine by a snapshot taken at `index` with `historyDigest`. */
  observeRestore(node: NodeId, index: number, historyDigest: number): void {
    const before = this.progressOf(node);
    if (index < before.index) {
      throw new Violation(
        "state machine safety",
        `${node} restored a snapshot at index ${index}, behind what it had applied (${before.index})`,
      );
    }
    const known = this.history.get(index);
    if (known !== undefined && known.historyDigest !== historyDigest) {
      throw new Violation(
        "state machine safety",
        `${node} restored a snapshot at index ${index} whose history differs from what ${known.node} applied`,
      );
    }
    if (index === before.index && before.history !== historyDigest) {
      throw new Violation("state machine safety", `${node} restored a snapshot at its own applied index ${index} with a different history`);
    }
    if (known === undefined && index > 0) {
      this.history.set(index, { node, term: undefined, contentDigest: undefined, historyDigest });
    }
    this.progress.set(node, { index, history: historyDigest });
    this.longest = Math.max(this.longest, index);
  }

  private progressOf(node: NodeId): NodeProgress {
    return this.progress.get(node) ?? { index: 0, history: EMPTY_HISTORY_DIGEST };
  }
}
