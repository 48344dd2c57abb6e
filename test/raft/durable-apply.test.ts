// Applying while a Ready's fsync runs: RaftNode.durableCommittedEntries hands
// out committed entries that are durable on this member, never the entries of
// the outstanding Ready (counted as held by the commit rule, not yet on disk).
import { describe, expect, test } from "bun:test";
import { ConfChangeType, type Entry, EntryType, type Message, type RaftNode, type Ready } from "../../src/raft/index";
import { bytes, Cluster, text } from "./helpers";

/** A leader "a" of a, b, c with everything settled; the test drives a's Readies by hand. */
function leaderOfThree(): { c: Cluster; a: RaftNode } {
  const c = new Cluster(["a", "b", "c"]);
  c.elect("a");
  c.settle();
  return { c, a: c.node("a") };
}

/** Writes a Ready's entries to a's storage (not yet durable: that is advance()) and returns its messages. */
function writeReady(c: Cluster, rd: Ready): Message[] {
  c.get("a").storage.append(rd.entries);
  if (rd.hardState) c.get("a").storage.setHardState(rd.hardState);
  return rd.messages;
}

/** Delivers messages to the followers, lets them handle everything, and steps their answers into a. */
function followersAnswer(c: Cluster, messages: Message[]): void {
  for (const m of messages) c.node(m.to).step(m);
  for (const id of ["b", "c"]) {
    const follower = c.get(id);
    while (follower.node.hasReady()) {
      const rd = follower.node.ready();
      follower.storage.append(rd.entries);
      if (rd.hardState) follower.storage.setHardState(rd.hardState);
      follower.node.advance();
      for (const m of rd.messages) if (m.to === "a") c.node("a").step(m);
    }
  }
}

const data = (entries: Entry[]) => entries.filter((e) => e.data.length > 0).map((e) => text(e.data));

describe("applying committed entries while a Ready is outstanding", () => {
  test("entries committed during the leader's fsync are handed out once they are durable on the leader, and no sooner", () => {
    const { c, a } = leaderOfThree();
    a.propose(bytes("x"));
    const first = a.ready();
    const toFollowers = writeReady(c, first);
    a.advance(); // "x" is durable on a
    a.propose(bytes("y"));
    const second = a.ready();
    expect(data(second.entries)).toEqual(["y"]);
    expect(second.committedEntries).toEqual([]);
    followersAnswer(c, [...toFollowers, ...writeReady(c, second)]);

    // Both followers hold x and y durably, so y counts as committed, but a's copy of y is still in flight.
    expect(a.status().commit).toBe(second.entries[0]!.index);
    expect(a.durableCommitIndex()).toBe(first.entries[first.entries.length - 1]!.index);
    const early = a.durableCommittedEntries();
    expect(data(early)).toEqual(["x"]);
    expect(a.durableCommittedEntries()).toEqual([]); // handed out once
    a.appliedTo(early[early.length - 1]!.index);
    expect(a.status().applied).toBe(early[early.length - 1]!.index);

    a.advance(); // "y" is durable now: it comes in the next Ready, "x" does not come again
    const third = a.ready();
    expect(data(third.committedEntries)).toEqual(["y"]);
    a.advance();
  });

  test("a Ready's own committed entries come first: nothing newer is handed out until they are reported applied", () => {
    const { c, a } = leaderOfThree();
    a.propose(bytes("x"));
    const first = a.ready();
    const firstMessages = writeReady(c, first);
    a.advance();
    a.propose(bytes("w"));
    const second = a.ready();
    const secondMessages = writeReady(c, second);
    a.advance(); // x and w are durable on a
    followersAnswer(c, firstMessages); // x commits
    a.propose(bytes("v"));
    const third = a.ready();
    expect(data(third.committedEntries)).toEqual(["x"]);
    expect(a.committedDurableBeforeSync(third)).toBe(true); // x was durable before this Ready
    followersAnswer(c, [...secondMessages, ...writeReady(c, third)]); // w and v commit
    expect(a.durableCommittedEntries()).toEqual([]);
    a.appliedTo(third.committedEntries[third.committedEntries.length - 1]!.index);
    expect(data(a.durableCommittedEntries())).toEqual(["w"]); // v is still in flight
    a.advance();
  });

  test("they stop before a membership change, which waits for a Ready (it takes effect in advance())", () => {
    const { c, a } = leaderOfThree();
    a.propose(bytes("x"));
    a.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: "d", context: new Uint8Array(0) });
    const first = a.ready();
    const toFollowers = writeReady(c, first);
    a.advance();
    a.propose(bytes("y"));
    const second = a.ready();
    followersAnswer(c, [...toFollowers, ...writeReady(c, second)]);
    const early = a.durableCommittedEntries();
    expect(data(early)).toEqual(["x"]);
    expect(early.some((e) => e.type === EntryType.ConfChange)).toBe(false);
    a.appliedTo(early[early.length - 1]!.index);
    expect(a.durableCommittedEntries()).toEqual([]);
    a.advance();
    const third = a.ready();
    expect(third.committedEntries[0]!.type).toBe(EntryType.ConfChange);
    expect(a.committedDurableBeforeSync(third)).toBe(false); // durable, but it changes membership
    expect(third.confState?.learners).toEqual(["d"]);
    a.advance();
    expect(a.status().confState.learners).toEqual(["d"]);
  });

  test("a single member commits its own entries at once, but hands them out only with their Ready", () => {
    const c = new Cluster(["a"]);
    c.elect("a");
    c.settle();
    const a = c.node("a");
    a.propose(bytes("x"));
    const rd = a.ready();
    expect(data(rd.entries)).toEqual(["x"]);
    expect(a.status().commit).toBe(rd.entries[0]!.index);
    expect(a.durableCommitIndex()).toBeLessThan(rd.entries[0]!.index);
    expect(a.committedDurableBeforeSync(rd)).toBe(false); // committed, but its own fsync is still ahead
    expect(a.durableCommittedEntries()).toEqual([]);
    a.advance();
  });

  test("reporting an index never handed out is an error", () => {
    const { a } = leaderOfThree();
    expect(() => a.appliedTo(a.status().commit + 1)).toThrow(/never handed out/);
  });

  test("a follower may apply what its leader committed once it is durable there, before its own next write is", () => {
    const { c, a } = leaderOfThree();
    const b = c.get("b");
    a.propose(bytes("x"));
    const first = a.ready();
    const firstMessages = writeReady(c, first);
    a.advance();
    followersAnswer(
      c,
      firstMessages.filter((m) => m.to === "b"),
    ); // x is durable on b and committed by a and b
    a.propose(bytes("y"));
    const second = a.ready();
    for (const m of writeReady(c, second)) if (m.to === "b") b.node.step(m); // y, and the commit of x
    a.advance();
    const onB = b.node.ready();
    expect(data(onB.entries)).toEqual(["y"]);
    expect(data(onB.committedEntries)).toEqual(["x"]);
    const lastX = onB.committedEntries[onB.committedEntries.length - 1]!.index;
    expect(b.node.durableCommitIndex()).toBe(lastX);
    b.node.appliedTo(lastX);
    expect(b.node.durableCommittedEntries()).toEqual([]);
    b.node.advance();
    expect(b.node.status().applied).toBe(lastX);
  });
});
