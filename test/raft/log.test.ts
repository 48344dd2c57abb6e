// The log as the core sees it: storage + unstable tail, matching and commit rules.
import { describe, expect, test } from "bun:test";
import { MemoryStorage } from "../../src/raft/index";
import { RaftLog } from "../../src/raft/log";
import { confState, entry } from "./helpers";

const terms = (log: RaftLog) => (log.entries(log.firstIndex(), log.lastIndex() + 1, Infinity) ?? []).map((e) => e.term);

function logWith(stableTerms: number[], unstableTerms: number[] = [], committed = 0): RaftLog {
  const s = new MemoryStorage({ confState: confState(["a"]) });
  s.append(stableTerms.map((t, i) => entry(i + 1, t)));
  s.setHardState({ term: 9, vote: "", commit: committed });
  const log = new RaftLog(s, committed, 0);
  log.append(unstableTerms.map((t, i) => entry(stableTerms.length + i + 1, t)));
  return log;
}

describe("log matching (AppendEntries receiver)", () => {
  test("an Append whose prevLogIndex/prevLogTerm does not match is refused", () => {
    const log = logWith([1, 1, 2]);
    expect(log.maybeAppend(3, 1, 0, [entry(4, 3)])).toBeUndefined();
    expect(log.maybeAppend(5, 2, 0, [entry(6, 3)])).toBeUndefined();
    expect(terms(log)).toEqual([1, 1, 2]);
  });

  test("a delayed Append whose entries all match truncates nothing", () => {
    const log = logWith([1, 1, 2, 2, 2]);
    expect(log.maybeAppend(1, 1, 0, [entry(2, 1), entry(3, 2)])).toBe(3);
    expect(terms(log)).toEqual([1, 1, 2, 2, 2]);
  });

  test("the log is truncated only at the first conflicting entry", () => {
    const log = logWith([1, 1, 2, 2, 2]);
    expect(log.maybeAppend(2, 1, 0, [entry(3, 2), entry(4, 3)])).toBe(4);
    expect(terms(log)).toEqual([1, 1, 2, 3]);
  });

  test("the follower commits min(leaderCommit, last new entry verified)", () => {
    const log = logWith([1, 1, 1, 1, 1, 1]);
    // Verified only through index 3: commit stops there even though the leader's is 6.
    log.maybeAppend(2, 1, 6, [entry(3, 1)]);
    expect(log.committed).toBe(3);
    log.maybeAppend(3, 1, 4, [entry(4, 1), entry(5, 1)]);
    expect(log.committed).toBe(4);
  });

  test("a conflict inside the committed prefix is an invariant violation, not a truncation", () => {
    const log = logWith([1, 1, 2], [], 3);
    expect(() => log.maybeAppend(1, 1, 3, [entry(2, 5)])).toThrow(/committed/);
    expect(terms(log)).toEqual([1, 1, 2]);
  });

  test("the commit index never moves backwards", () => {
    const log = logWith([1, 1, 1], [], 2);
    expect(log.commitTo(1)).toBe(false);
    expect(log.committed).toBe(2);
  });
});

describe("up-to-date check (§5.4.1)", () => {
  test("compares the last term first, then the last index", () => {
    const log = logWith([1, 2, 2]);
    expect(log.isUpToDate(1, 3)).toBe(true); // higher last term wins even with a shorter log
    expect(log.isUpToDate(9, 1)).toBe(false); // lower last term loses even with a longer log
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
  });
});

describe("fast backoff hint", () => {
  test("findConflictByTerm skips back over every entry with a term above the leader's", () => {
    const log = logWith([1, 1, 2, 4, 4, 4, 4]);
    expect(log.findConflictByTerm(7, 3)).toEqual({ index: 3, term: 2 });
    expect(log.findConflictByTerm(7, 4)).toEqual({ index: 7, term: 4 });
    expect(log.findConflictByTerm(7, 1)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(7, 0)).toEqual({ index: 0, term: 0 });
  });
});

describe("stable and unstable parts", () => {
  test("entries come from storage and the unstable tail seamlessly, within a byte budget", () => {
    const log = logWith([1, 1], [2, 2]);
    expect((log.entries(1, 5, Infinity) ?? []).map((e) => e.index)).toEqual([1, 2, 3, 4]);
    // A budget smaller than one entry still yields one entry (progress is guaranteed).
    expect((log.entries(1, 5, 1) ?? []).map((e) => e.index)).toEqual([1]);
    expect((log.entries(3, 5, 1) ?? []).map((e) => e.index)).toEqual([3]);
  });

  test("asking for compacted entries answers undefined (the caller sends a snapshot)", () => {
    const s = new MemoryStorage({ confState: confState(["a"]) });
    s.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    s.setHardState({ term: 1, vote: "", commit: 3 });
    s.createSnapshot(2, confState(["a"]), new Uint8Array([1]));
    s.compact(2);
    const log = new RaftLog(s, 3, 3);
    expect(log.entries(1, 4, Infinity)).toBeUndefined();
    expect(log.term(2)).toBe(1);
    expect(log.term(1)).toBeUndefined();
  });

  test("unstable entries replacing a stable suffix hide the stale stable entries", () => {
    const log = logWith([1, 1, 1, 1]);
    log.maybeAppend(1, 1, 0, [entry(2, 2)]);
    expect(log.lastIndex()).toBe(2);
    expect(log.term(3)).toBeUndefined();
    expect(terms(log)).toEqual([1, 2]);
  });

  test("a snapshot matching an entry we hold keeps the log after it; a foreign one discards the log", () => {
    const keep = logWith([1, 1, 2, 2]);
    keep.restore({ index: 2, term: 1, confState: confState(["a"]), sizeBytes: 0 });
    expect(keep.lastIndex()).toBe(4);
    expect(keep.committed).toBe(2);
    const drop = logWith([1, 1, 2, 2]);
    drop.restore({ index: 3, term: 5, confState: confState(["a"]), sizeBytes: 0 });
    expect(drop.lastIndex()).toBe(3);
    expect(drop.term(3)).toBe(5);
    expect(drop.term(4)).toBeUndefined();
  });
});
