// Leader completeness (Raft §5.4): an entry committed in term U is in the log
// of every leader of every term after U. The term an entry "was committed in"
// is recorded as the term of the first node seen to know it committed, which is
// never earlier than the true one, so the check has no false alarms.

import type { NodeId } from "../../../src/raft/types";
import type { LogView } from "../shadow_log";
import { Violation } from "./violation";

interface Committed {
  index: number;
  term: number;
  digest: number;
  commitTerm: number;
}

interface LeaderSession {
  term: number;
  /** How many records of `order` this leader has already been checked against. */
  checkedCount: number;
}

export class LeaderCompleteness {
  private readonly byIndex = new Map<number, Committed>();
  /** Records in the order they became known (a record whose commit term drops is pushed again). */
  private readonly order: Committed[] = [];
  private readonly sessions = new Map<NodeId, LeaderSession>();

  /** `observer`, at `observerTerm`, knows the entry (index, term, digest) is committed. */
  observeCommitted(observer: NodeId, index: number, term: number, digest: number, observerTerm: number): void {
    const known = this.byIndex.get(index);
    if (known === undefined) {
      const record = { index, term, digest, commitTerm: observerTerm };
      this.byIndex.set(index, record);
      this.order.push(record);
      return;
    }
    if (known.term !== term || known.digest !== digest) {
      throw new Violation(
        "state machine safety",
        `${observer} considers index ${index} committed with term ${term}, ` +
          `but index ${index} was already committed with term ${known.term}` +
          (known.term === term ? " and different content" : ""),
      );
    }
    if (observerTerm < known.commitTerm) {
      known.commitTerm = observerTerm;
      this.order.push(known);
    }
  }

  /** `node` is leader of `term` with `log` (everything it has persisted). */
  checkLeader(node: NodeId, term: number, log: LogView): void {
    let session = this.sessions.get(node);
    if (session === undefined || session.term !== term) {
      session = { term, checkedCount: 0 };
      this.sessions.set(node, session);
    }
    for (let k = session.checkedCount; k < this.order.length; k++) {
      const record = this.order[k] as Committed;
      if (record.commitTerm < term) checkHasEntry(node, term, log, record);
    }
    session.checkedCount = this.order.length;
  }

  committedCount(): number {
    return this.byIndex.size;
  }

  committedTerm(index: number): number | undefined {
    return this.byIndex.get(index)?.term;
  }
}

function checkHasEntry(node: NodeId, term: number, log: LogView, record: Committed): void {
  if (record.index < log.snapshotIndex) return; // covered by its snapshot
  const logTerm = log.term(record.index);
  const missing = logTerm === undefined;
  const different = !missing && (logTerm !== record.term || differentContent(log, record));
  if (missing || different) {
    throw new Violation(
      "leader completeness",
      `${node} is leader of term ${term} but its log ` +
        (missing ? `lacks index ${record.index}` : `has term ${logTerm} at index ${record.index}`) +
        `, committed in term ${record.commitTerm} with term ${record.term}`,
    );
  }
}

function differentContent(log: LogView, record: Committed): boolean {
  const digest = log.digest(record.index);
  return digest !== undefined && digest !== record.digest;
}
