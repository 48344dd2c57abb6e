// Per-follower flow control: probe, replicate (in-flight window), snapshot.
import { describe, expect, test } from "bun:test";
import { Inflights, Progress } from "../../src/raft/progress";

describe("in-flight window", () => {
  test("it fills up to its capacity and frees every Append acknowledged by an index", () => {
    const w = new Inflights(3);
    w.add(5);
    w.add(7);
    w.add(9);
    expect(w.full()).toBe(true);
    expect(() => w.add(11)).toThrow(/overflowed/);
    w.freeLE(7);
    expect(w.count).toBe(1);
    w.add(11);
    w.add(12);
    w.freeLE(100);
    expect(w.count).toBe(0);
  });
});

describe("progress", () => {
  test("probe sends one Append and pauses until an answer", () => {
    const pr = new Progress("b", 5, 4, false);
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(9);
    expect(pr.isPaused()).toBe(true);
    expect(pr.next).toBe(5); // probe does not advance optimistically
    expect(pr.maybeUpdate(9)).toBe(true);
    expect(pr.isPaused()).toBe(false);
  });

  test("replicate pipelines optimistically and pauses when the window is full", () => {
    const pr = new Progress("b", 1, 2, false);
    pr.becomeReplicate();
    pr.sentEntries(3);
    expect(pr.next).toBe(4);
    pr.sentEntries(6);
    expect(pr.isPaused()).toBe(true);
    pr.maybeUpdate(3);
    pr.inflights.freeLE(3);
    expect(pr.isPaused()).toBe(false);
  });

  test("a rejection at or below match in replicate is stale; a newer one falls back to match+1", () => {
    const pr = new Progress("b", 1, 8, false);
    pr.maybeUpdate(5);
    pr.becomeReplicate();
    pr.sentEntries(10);
    expect(pr.maybeDecrTo(5, 0)).toBe(false);
    expect(pr.maybeDecrTo(8, 3)).toBe(true);
    expect(pr.next).toBe(6);
  });

  test("a probe rejection is honoured only for the Append last sent, and uses the hint", () => {
    const pr = new Progress("b", 11, 8, false);
    expect(pr.maybeDecrTo(7, 2)).toBe(false); // not next-1: stale
    expect(pr.maybeDecrTo(10, 4)).toBe(true);
    expect(pr.next).toBe(5);
  });

  test("snapshot state pauses Appends; leaving it resumes after the snapshot's index", () => {
    const pr = new Progress("b", 3, 8, false);
    pr.becomeSnapshot({ index: 20, term: 2, confState: { voters: [], learners: [] }, sizeBytes: 10 });
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.next).toBe(21);
  });
});
