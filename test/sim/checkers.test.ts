// The checkers are tested on hand-made states: each must flag its violation
// and accept the matching valid state, or a green simulation would mean nothing.

import { describe, expect, test } from "bun:test";
import { EntryType, type Entry } from "../../src/raft/types";
import { checkLogsMatch, LogMatching } from "./checkers/log_matching";
import { ElectionSafety } from "./checkers/election_safety";
import { LeaderAppendOnly } from "./checkers/leader_append_only";
import { LeaderCompleteness } from "./checkers/leader_completeness";
import { checkCommitQuorum } from "./checkers/commit_quorum";
import { checkLeaderElected, checkProposalsCommitted } from "./checkers/liveness";
import { ReadFreshness } from "./checkers/read_freshness";
import { StateMachineSafety } from "./checkers/state_machine_safety";
import { Violation } from "./checkers/violation";
import { chainDigest, EMPTY_HISTORY_DIGEST, entryDigest } from "./digest";
import { ShadowLog } from "./shadow_log";

const encoder = new TextEncoder();

/** A log from "term:payload" strings, starting at index 1. */
function logOf(...specs: string[]): ShadowLog {
  const log = new ShadowLog();
  log.append(specs.map((spec, k) => entryOf(k + 1, spec)));
  return log;
}

function entryOf(index: number, spec: string): Entry {
  const [term, payload] = spec.split(":");
  return { index, term: Number(term), type: EntryType.Normal, data: encoder.encode(payload ?? "") };
}

function digestOf(payload: string): number {
  return entryDigest(EntryType.Normal, encoder.encode(payload));
}

function expectViolation(property: string, action: () => void): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(Violation);
  expect((caught as Violation).property).toBe(property as Violation["property"]);
}

describe("election safety checker", () => {
  test("flags two leaders in the same term", () => {
    const checker = new ElectionSafety();
    checker.observeLeader("n1", 3);
    expectViolation("election safety", () => checker.observeLeader("n2", 3));
  });

  test("accepts one leader per term, seen many times, and different leaders in different terms", () => {
    const checker = new ElectionSafety();
    checker.observeLeader("n1", 3);
    checker.observeLeader("n1", 3);
    checker.observeLeader("n2", 4);
    checker.observeLeader("n1", 5);
    expect(checker.leaderOf(4)).toBe("n2");
  });
});

describe("log matching checker", () => {
  test("flags the same index and term with different content", () => {
    const checker = new LogMatching();
    const a = logOf("1:a", "1:b");
    const b = logOf("1:a", "1:X");
    checker.observeAppend("n1", a, 1, 2);
    expectViolation("log matching", () => checker.observeAppend("n2", b, 1, 2));
  });

  test("flags the same index and term preceded by different terms (diverging prefixes)", () => {
    const checker = new LogMatching();
    const a = logOf("1:a", "1:b", "3:c");
    const b = logOf("1:a", "2:z", "3:c");
    checker.observeAppend("n1", a, 1, 3);
    expectViolation("log matching", () => checker.observeAppend("n2", b, 1, 3));
  });

  test("accepts logs that diverge only after their last common entry", () => {
    const checker = new LogMatching();
    const a = logOf("1:a", "1:b", "2:c");
    const b = logOf("1:a", "1:b", "3:d", "3:e");
    checker.observeAppend("n1", a, 1, 3);
    checker.observeAppend("n2", b, 1, 4);
    checkLogsMatch("n1", a, "n2", b);
  });

  test("full comparison flags a diverging prefix below a matching entry", () => {
    const a = logOf("1:a", "1:b", "3:c");
    const b = logOf("1:a", "2:z", "3:c");
    expectViolation("log matching", () => checkLogsMatch("n1", a, "n2", b));
  });

  test("full comparison accepts a compacted log that matches the other from its snapshot on", () => {
    const a = logOf("1:a", "1:b", "2:c", "2:d");
    a.compact(2);
    const b = logOf("1:a", "1:b", "2:c");
    checkLogsMatch("n1", a, "n2", b);
  });
});

describe("leader completeness checker", () => {
  test("flags a later leader whose log lacks a committed entry", () => {
    const checker = new LeaderCompleteness();
    checker.observeCommitted("n1", 1, 1, digestOf("a"), 1);
    checker.observeCommitted("n1", 2, 1, digestOf("b"), 1);
    expectViolation("leader completeness", () => checker.checkLeader("n2", 2, logOf("1:a")));
  });

  test("flags a later leader holding another entry at a committed index", () => {
    const checker = new LeaderCompleteness();
    checker.observeCommitted("n1", 1, 1, digestOf("a"), 1);
    checker.observeCommitted("n1", 2, 1, digestOf("b"), 1);
    expectViolation("leader completeness", () => checker.checkLeader("n3", 3, logOf("1:a", "2:x")));
  });

  test("flags an entry committed after a leader was first checked and missing from its log", () => {
    const checker = new LeaderCompleteness();
    checker.checkLeader("n2", 5, logOf("1:a"));
    checker.observeCommitted("n1", 2, 1, digestOf("b"), 4);
    expectViolation("leader completeness", () => checker.checkLeader("n2", 5, logOf("1:a")));
  });

  test("accepts leaders holding every committed entry, and a stale leader of the commit's own term", () => {
    const checker = new LeaderCompleteness();
    checker.observeCommitted("n1", 1, 1, digestOf("a"), 1);
    checker.observeCommitted("n1", 2, 2, digestOf("b"), 2);
    checker.checkLeader("n2", 3, logOf("1:a", "2:b", "3:c"));
    // A stale leader of term 2 is only held to entries committed before term 2.
    checker.checkLeader("n3", 2, logOf("1:a"));
    const compacted = logOf("1:a", "2:b", "4:c");
    compacted.compact(2);
    checker.checkLeader("n4", 4, compacted);
  });

  test("flags a committed index that changes its entry", () => {
    const checker = new LeaderCompleteness();
    checker.observeCommitted("n1", 1, 1, digestOf("a"), 1);
    expectViolation("state machine safety", () => checker.observeCommitted("n2", 1, 2, digestOf("z"), 2));
  });
});

describe("leader append-only checker", () => {
  test("flags a leader that rewrites one of its entries during its term", () => {
    const checker = new LeaderAppendOnly();
    checker.observeLeader("n1", 2, logOf("1:a", "2:b", "2:c"));
    expectViolation("leader append-only", () => checker.observeLeader("n1", 2, logOf("1:a", "2:b", "2:X")));
  });

  test("flags a leader that loses entries during its term", () => {
    const checker = new LeaderAppendOnly();
    checker.observeLeader("n1", 2, logOf("1:a", "2:b", "2:c"));
    expectViolation("leader append-only", () => checker.observeLeader("n1", 2, logOf("1:a", "2:b")));
  });

  test("accepts appends, compaction, and a new term after stepping down", () => {
    const checker = new LeaderAppendOnly();
    checker.observeLeader("n1", 2, logOf("1:a", "2:b"));
    const grown = logOf("1:a", "2:b", "2:c");
    checker.observeLeader("n1", 2, grown);
    grown.compact(2);
    checker.observeLeader("n1", 2, grown);
    checker.observeNotLeader("n1");
    checker.observeLeader("n1", 4, logOf("1:a", "3:x", "4:y"));
  });
});

describe("state machine safety checker", () => {
  test("flags two nodes applying different entries at the same index", () => {
    const checker = new StateMachineSafety();
    checker.observeApply("n1", 1, 1, digestOf("a"));
    expectViolation("state machine safety", () => checker.observeApply("n2", 1, 1, digestOf("b")));
  });

  test("flags an entry applied twice and an index skipped", () => {
    const twice = new StateMachineSafety();
    twice.observeApply("n1", 1, 1, digestOf("a"));
    expectViolation("state machine safety", () => twice.observeApply("n1", 1, 1, digestOf("a")));
    const skipped = new StateMachineSafety();
    expectViolation("state machine safety", () => skipped.observeApply("n1", 2, 1, digestOf("a")));
  });

  test("flags a snapshot restore whose history differs, or that goes backwards", () => {
    const checker = new StateMachineSafety();
    const h1 = checker.observeApply("n1", 1, 1, digestOf("a"));
    checker.observeApply("n1", 2, 1, digestOf("b"));
    expectViolation("state machine safety", () => checker.observeRestore("n2", 1, h1 + 1));
    expectViolation("state machine safety", () => checker.observeRestore("n1", 1, h1));
  });

  test("accepts nodes applying the same prefix, one of them through a snapshot", () => {
    const checker = new StateMachineSafety();
    checker.observeApply("n1", 1, 1, digestOf("a"));
    const h2 = checker.observeApply("n1", 2, 1, digestOf("b"));
    checker.observeApply("n2", 1, 1, digestOf("a"));
    checker.observeRestore("n3", 2, h2);
    checker.observeApply("n3", 3, 2, digestOf("c"));
    checker.observeApply("n1", 3, 2, digestOf("c"));
    expect(checker.longestApplied()).toBe(3);
    expect(chainDigest(EMPTY_HISTORY_DIGEST, 1, 1, digestOf("a"))).not.toBe(h2);
  });

  test("accepts a node applying normally past an index first reached by another node's snapshot", () => {
    const reference = new StateMachineSafety();
    reference.observeApply("n1", 1, 1, digestOf("a"));
    const h2 = reference.observeApply("n1", 2, 1, digestOf("b"));
    const checker = new StateMachineSafety();
    checker.observeRestore("n3", 2, h2);
    checker.observeApply("n1", 1, 1, digestOf("a"));
    checker.observeApply("n1", 2, 1, digestOf("b"));
  });
});

describe("read freshness checker", () => {
  test("flags a read returning a value older than a write acknowledged before it began", () => {
    const checker = new ReadFreshness();
    checker.observeApplied(3, "k");
    checker.observeApplied(5, "k");
    checker.beginRead(1, "n2", "k");
    expectViolation("read freshness", () => checker.serveRead(1, 5, 3));
  });

  test("flags a read point older than an index already applied when the read began", () => {
    const checker = new ReadFreshness();
    checker.observeApplied(7, "other");
    checker.beginRead(1, "n2", "k");
    expectViolation("read freshness", () => checker.serveRead(1, 6, 0));
  });

  test("accepts the latest value, a newer one, and ignores writes acknowledged after the read began", () => {
    const checker = new ReadFreshness();
    checker.observeApplied(5, "k");
    checker.beginRead(1, "n1", "k");
    checker.beginRead(2, "n1", "k");
    checker.observeApplied(9, "k");
    checker.serveRead(1, 5, 5);
    checker.serveRead(2, 9, 9);
    checker.beginRead(3, "n1", "absent");
    checker.serveRead(3, 9, 0);
    expect(checker.servedCount).toBe(3);
  });
});

describe("commit quorum checker", () => {
  test("flags a leader committing an entry only a minority of voters persisted", () => {
    const logs = new Map([
      ["n1", logOf("1:a", "2:b")],
      ["n2", logOf("1:a")],
      ["n3", logOf("1:a", "1:x")],
    ]);
    expectViolation("commit quorum", () => checkCommitQuorum("n1", 2, 2, 2, ["n1", "n2", "n3"], (id) => logs.get(id)));
  });

  test("accepts a majority holding the entry, counting a voter that compacted it into its snapshot", () => {
    const compacted = logOf("1:a", "2:b", "2:c");
    compacted.compact(3);
    const logs = new Map([
      ["n1", logOf("1:a", "2:b")],
      ["n2", logOf("1:a")],
      ["n3", compacted],
    ]);
    checkCommitQuorum("n1", 2, 2, 2, ["n1", "n2", "n3"], (id) => logs.get(id));
  });
});

describe("liveness checks", () => {
  test("flag a missing leader and an accepted proposal still in the leader's log but uncommitted", () => {
    expectViolation("liveness", () => checkLeaderElected(undefined, 100));
    const log = logOf("1:a", "2:b", "2:c");
    expectViolation("liveness", () =>
      checkProposalsCommitted([{ index: 3, term: 2, leader: "n1" }], "n1", log, 2, 100),
    );
  });

  test("accept committed proposals and proposals replaced by another leader's entry", () => {
    checkLeaderElected("n1", 10);
    const log = logOf("1:a", "2:b", "3:c");
    checkProposalsCommitted(
      [
        { index: 2, term: 2, leader: "n1" },
        { index: 3, term: 2, leader: "n1" },
      ],
      "n2",
      log,
      2,
      100,
    );
  });
});
