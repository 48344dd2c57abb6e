// Leader append-only (Raft §5.3): during its term a leader never overwrites or
// deletes entries of its log; it only appends. (Compaction into a snapshot is
// not a loss.) Each observation of a leader is compared with the previous one
// in the same term.

import type { NodeId } from "../../../src/raft/types";
import type { LogView } from "../shadow_log";
import { Violation } from "./violation";

interface Session {
  term: number;
  /** The log as last observed: entries[k] is at index firstIndex + k. */
  firstIndex: number;
  terms: number[];
  digests: number[];
}

export class LeaderAppendOnly {
  private readonly sessions = new Map<NodeId, Session>();

  /** `node` is leader of `term` and its log is `log`; call after every step it leads. */
  observeLeader(node: NodeId, term: number, log: LogView): void {
    const previous = this.sessions.get(node);
    if (previous !== undefined && previous.term === term) compare(node, term, previous, log);
    this.sessions.set(node, capture(term, log));
  }

  /** `node` is no longer leader (stepped down or crashed). */
  observeNotLeader(node: NodeId): void {
    this.sessions.delete(node);
  }
}

function compare(node: NodeId, term: number, previous: Session, log: LogView): void {
  const previousLast = previous.firstIndex + previous.terms.length - 1;
  if (log.lastIndex() < previousLast) {
    throw new Violation(
      "leader append-only",
      `${node}, leader of term ${term}, had entries up to index ${previousLast} and now only up to ${log.lastIndex()}`,
    );
  }
  const from = Math.max(previous.firstIndex, log.snapshotIndex + 1);
  for (let index = from; index <= previousLast; index++) {
    const k = index - previous.firstIndex;
    const termNow = log.term(index);
    const digestNow = log.digest(index);
    if (termNow !== previous.terms[k] || digestNow !== previous.digests[k]) {
      throw new Violation(
        "leader append-only",
        `${node}, leader of term ${term}, rewrote its entry at index ${index} ` +
          `(term ${previous.terms[k]} became ${termNow ?? "missing"})`,
      );
    }
  }
}

function capture(term: number, log: LogView): Session {
  const firstIndex = log.snapshotIndex + 1;
  const terms: number[] = [];
  const digests: number[] = [];
  for (let index = firstIndex; index <= log.lastIndex(); index++) {
    terms.push(log.term(index) as number);
    digests.push(log.digest(index) as number);
  }
  return { term, firstIndex, terms, digests };
}
