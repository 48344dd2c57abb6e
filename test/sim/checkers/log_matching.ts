// Log matching (Raft §5.3): if two logs hold an entry with the same index and
// term, the entries are identical and so are the logs up to that index.
// Checked incrementally on every persisted append (same content, same term
// before it — by induction the whole prefix matches), and in full between
// pairs of logs with checkLogsMatch.

import type { NodeId } from "../../../src/raft/types";
import type { LogView } from "../shadow_log";
import { Violation } from "./violation";

interface Seen {
  node: NodeId;
  digest: number;
  /** Term of the entry before it; undefined when that entry was compacted away. */
  previousTerm: number | undefined;
}

export class LogMatching {
  private readonly seen = new Map<string, Seen>();

  /** Entries [fromIndex, toIndex] were just persisted into `log` on `node`. */
  observeAppend(node: NodeId, log: LogView, fromIndex: number, toIndex: number): void {
    for (let index = fromIndex; index <= toIndex; index++) {
      const term = log.term(index);
      const digest = log.digest(index);
      if (term === undefined || digest === undefined) {
        throw new Violation("driver contract", `${node}: persisted entry ${index} is missing from its own log`);
      }
      this.observeEntry(node, index, term, digest, log.term(index - 1));
    }
  }

  observeEntry(node: NodeId, index: number, term: number, digest: number, previousTerm: number | undefined): void {
    const key = `${index}:${term}`;
    const known = this.seen.get(key);
    if (known === undefined) {
      this.seen.set(key, { node, digest, previousTerm });
      return;
    }
    if (known.digest !== digest) {
      throw new Violation(
        "log matching",
        `entry index ${index} term ${term} differs in content between ${known.node} and ${node}`,
      );
    }
    if (known.previousTerm !== undefined && previousTerm !== undefined && known.previousTerm !== previousTerm) {
      throw new Violation(
        "log matching",
        `entry index ${index} term ${term} is preceded by term ${known.previousTerm} on ${known.node} ` +
          `but by term ${previousTerm} on ${node}: the prefixes differ`,
      );
    }
    if (known.previousTerm === undefined && previousTerm !== undefined) known.previousTerm = previousTerm;
  }
}

/**
 * Full pairwise comparison of two logs: below the highest index where both
 * hold the same term, every index both still hold must match in term and content.
 */
export function checkLogsMatch(nodeA: NodeId, a: LogView, nodeB: NodeId, b: LogView): void {
  const low = Math.max(a.snapshotIndex, b.snapshotIndex);
  const high = Math.min(a.lastIndex(), b.lastIndex());
  let matchIndex = -1;
  for (let index = high; index >= low; index--) {
    const termA = a.term(index);
    if (termA !== undefined && termA === b.term(index)) {
      matchIndex = index;
      break;
    }
  }
  for (let index = low; index <= matchIndex; index++) {
    const sameTerm = a.term(index) === b.term(index);
    const digestA = a.digest(index);
    const digestB = b.digest(index);
    const sameContent = digestA === undefined || digestB === undefined || digestA === digestB;
    if (!sameTerm || !sameContent) {
      throw new Violation(
        "log matching",
        `${nodeA} and ${nodeB} agree at index ${matchIndex} term ${a.term(matchIndex)} ` +
          `but differ at index ${index} (terms ${a.term(index)} vs ${b.term(index)})`,
      );
    }
  }
}
