// Single-server membership changes (dissertation §4.1-4.3). Changes take
// effect when the ConfChange entry is applied (etcd-raft style).
import { describe, expect, test } from "bun:test";
import {
  type ConfChange,
  ConfChangeType,
  decodeConfChange,
  encodeConfChange,
  EntryType,
  MemoryStorage,
  MessageType,
  PROMOTION_MAX_LAG_ENTRIES,
  RaftError,
  Role,
} from "../../src/raft/index";
import { bytes, Cluster, confState, ELECTION_TICKS, handleReady, newNode } from "./helpers";

const change = (type: ConfChangeType, nodeId: string): ConfChange => ({ type, nodeId, context: bytes(`${nodeId}.example:2380`) });

function refusal(f: () => unknown): RaftError {
  try {
    f();
  } catch (e) {
    if (e instanceof RaftError) return e;
    throw e;
  }
  throw new Error("expected a RaftError");
}

/** A single-node cluster "a" (bootstrapped) with joiners that start with empty storage. */
function growFrom(joiners: string[]): Cluster {
  const c = new Cluster([]);
  c.add("a", new MemoryStorage({ confState: confState(["a"]) }));
  for (const id of joiners) c.add(id, new MemoryStorage());
  c.tickAll(2 * ELECTION_TICKS);
  expect(c.node("a").status().role).toBe(Role.Leader);
  return c;
}

function addAndSettle(c: Cluster, leader: string, cc: ConfChange): void {
  c.node(leader).proposeConfChange(cc);
  c.settle();
  c.tickAll(2);
}

describe("ConfChange codec", () => {
  test("encode/decode round-trips every change type", () => {
    for (const type of [ConfChangeType.AddVoter, ConfChangeType.AddLearner, ConfChangeType.RemoveNode]) {
      const cc = change(type, "n1");
      expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    }
  });
});

describe("growing a cluster from one node", () => {
  test("a joiner added as learner, then promoted, replays the log and reaches the leader's membership", () => {
    const c = growFrom(["b", "c"]);
    c.node("a").propose(bytes("before"));
    addAndSettle(c, "a", change(ConfChangeType.AddLearner, "b"));
    addAndSettle(c, "a", change(ConfChangeType.AddVoter, "b"));
    addAndSettle(c, "a", change(ConfChangeType.AddVoter, "c"));
    for (const id of ["a", "b", "c"]) {
      expect(c.node(id).status().confState).toEqual({ voters: ["a", "b", "c"], learners: [] });
      expect(c.get(id).storage.initialState().confState.voters).toEqual(["a", "b", "c"]);
    }
    expect(c.appliedData("c")).toEqual(["before"]);
  });

  test("Ready.confState reports the membership of the ConfChange entries it hands out; the core switches at advance()", () => {
    const c = growFrom([]);
    c.node("a").proposeConfChange(change(ConfChangeType.AddLearner, "z"));
    const rd = c.node("a").ready();
    expect(rd.committedEntries.some((e) => e.type === 1)).toBe(true);
    expect(rd.confState).toEqual({ voters: ["a"], learners: ["z"] });
    expect(c.node("a").status().confState.learners).toEqual([]);
    c.get("a").storage.append(rd.entries);
    c.node("a").advance();
    expect(c.node("a").status().confState.learners).toEqual(["z"]);
  });
});

describe("the leader's admission rules", () => {
  test("a second change is refused while the first is not yet applied (one at a time)", () => {
    const c = growFrom(["b"]);
    c.node("a").proposeConfChange(change(ConfChangeType.AddLearner, "b"));
    expect(refusal(() => c.node("a").proposeConfChange(change(ConfChangeType.AddLearner, "c"))).reason).toBe("conf_change_pending");
    c.settle();
    expect(() => c.node("a").proposeConfChange(change(ConfChangeType.AddLearner, "c"))).not.toThrow();
  });

  test("a change is refused until the leader has committed an entry of its own term", () => {
    // A fresh leader whose no-op cannot commit yet (no acknowledgements arrive).
    const d = new Cluster(["a", "b", "c"]);
    d.dropped = (m) => m.type === MessageType.AppendResponse;
    d.elect("a");
    expect(d.node("a").status().commit).toBeLessThan(d.node("a").status().lastIndex);
    const e = refusal(() => d.node("a").proposeConfChange(change(ConfChangeType.AddLearner, "d")));
    expect(e.reason).toBe("conf_change_pending");
    expect(e.message).toMatch(/not yet committed an entry of its term/);
    d.heal();
    d.tickAll(2);
    expect(() => d.node("a").proposeConfChange(change(ConfChangeType.AddLearner, "d"))).not.toThrow();
  });

  test("invalid changes are refused as bad_request with the reason", () => {
    const c = growFrom([]);
    expect(refusal(() => c.node("a").proposeConfChange(change(ConfChangeType.AddVoter, "a"))).message).toMatch(/already a voter/);
    expect(refusal(() => c.node("a").proposeConfChange(change(ConfChangeType.RemoveNode, "zz"))).message).toMatch(/not a member/);
    expect(refusal(() => c.node("a").proposeConfChange(change(ConfChangeType.RemoveNode, "a"))).message).toMatch(/last voter/);
  });

  test("a learner is promoted only once caught up (learner_not_caught_up otherwise)", () => {
    const c = growFrom(["b"]);
    addAndSettle(c, "a", change(ConfChangeType.AddLearner, "b"));
    c.dropped = (m) => m.to === "b" || m.from === "b";
    for (let i = 0; i < PROMOTION_MAX_LAG_ENTRIES + 5; i++) c.node("a").propose(bytes(`x${i}`));
    c.settle();
    const e = refusal(() => c.node("a").proposeConfChange(change(ConfChangeType.AddVoter, "b")));
    expect(e.reason).toBe("learner_not_caught_up");
    expect(e.message).toMatch(/learner b/);
    c.heal();
    c.tickAll(3);
    expect(() => c.node("a").proposeConfChange(change(ConfChangeType.AddVoter, "b"))).not.toThrow();
  });
});

describe("learners", () => {
  test("a learner receives the log but never campaigns and never counts toward quorum", () => {
    const c = new Cluster(["a", "b", "l"], {}, confState(["a", "b"], ["l"]));
    c.elect("a");
    c.node("a").propose(bytes("x"));
    c.settle();
    c.tickAll(1);
    expect(c.appliedData("l")).toEqual(["x"]);
    // With b cut off, a and the learner are not a quorum: nothing commits.
    c.isolate("b");
    const commit = c.node("a").status().commit;
    c.node("a").propose(bytes("y"));
    c.settle();
    expect(c.node("a").status().commit).toBe(commit);
    expect(c.node("a").status().progress?.l?.match).toBe(c.node("a").status().lastIndex);
    // The learner does not campaign, however long it waits.
    c.isolate("a", "b");
    for (let i = 0; i < 5 * ELECTION_TICKS; i++) c.node("l").tick();
    expect(c.node("l").status().role).toBe(Role.Follower);
    expect(c.node("l").hasReady()).toBe(false);
  });
});

describe("removal", () => {
  test("a leader that removes itself steps down after the change applies, and the rest elect a leader", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.tickAll(1);
    c.node("a").proposeConfChange(change(ConfChangeType.RemoveNode, "a"));
    c.settle();
    expect(c.node("a").status().role).toBe(Role.Follower);
    c.isolate("a");
    c.tickAll(3 * ELECTION_TICKS);
    const leaders = c.leaders();
    expect(leaders.length).toBe(1);
    expect(["b", "c"]).toContain(leaders[0]!);
    expect(c.node(leaders[0]!).status().confState.voters).toEqual(["b", "c"]);
  });

  test("a removed server that keeps campaigning does not disrupt the cluster", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    // c is cut off before it learns of its removal, so it still thinks it is a voter.
    c.isolate("c");
    c.tickAll(1);
    c.node("a").proposeConfChange(change(ConfChangeType.RemoveNode, "c"));
    c.settle();
    c.tickAll(2);
    expect(c.node("a").status().confState.voters).toEqual(["a", "b"]);
    const term = c.node("a").status().term;
    c.tickAll(5 * ELECTION_TICKS); // c campaigns again and again in its partition
    c.heal();
    c.tickAll(5 * ELECTION_TICKS); // ...and after the partition heals
    expect(c.node("a").status()).toMatchObject({ role: Role.Leader, term });
    expect(c.node("b").status().leader).toBe("a");
  });

  test("a config entry that never committed (overwritten by a new leader) never takes effect", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.tickAll(1);
    c.isolate("a");
    c.node("a").proposeConfChange(change(ConfChangeType.RemoveNode, "b"));
    c.settle();
    expect(c.node("a").status().confState.voters).toEqual(["a", "b", "c"]);
    c.tickAll(3 * ELECTION_TICKS);
    const leader = c.leaders().find((id) => id !== "a")!;
    c.node(leader).propose(bytes("new-term"));
    c.settle();
    c.heal();
    c.tickAll(3 * ELECTION_TICKS);
    for (const id of ["a", "b", "c"]) {
      expect(c.node(id).status().confState.voters).toEqual(["a", "b", "c"]);
      expect(c.get(id).applied.some((e) => e.type === 1 && decodeConfChange(e.data).type === ConfChangeType.RemoveNode)).toBe(false);
    }
  });

  test("membership survives a restart: it is read back from what Ready.confState persisted", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.tickAll(1);
    addAndSettle(c, "a", change(ConfChangeType.AddLearner, "d"));
    const b = c.restart("b", { applied: c.node("b").status().applied });
    expect(b.node.status().confState).toEqual({ voters: ["a", "b", "c"], learners: ["d"] });
    handleReady(b.node, b.storage);
  });

  test("a restarted node does not campaign while a committed membership change waits to be applied again", () => {
    // Its state (and so its membership) starts at index 0 - a lone voter - but the log has committed adding b and c.
    const add = (index: number, id: string) => ({ index, term: 1, type: EntryType.ConfChange, data: encodeConfChange(change(ConfChangeType.AddVoter, id)) });
    const storage = new MemoryStorage({ confState: confState(["a"]) });
    storage.append([add(1, "b"), add(2, "c")]);
    storage.setHardState({ term: 1, vote: "a", commit: 2 });
    const a = newNode("a", storage, { applied: 0 });
    expect(a.status().confState.voters).toEqual(["a"]);
    a.campaign();
    for (let i = 0; i < 3 * ELECTION_TICKS; i++) a.tick();
    // With voters [a] it would have won alone, next to whoever leads b and c.
    expect(a.status().role).toBe(Role.Follower);
    expect(a.status().term).toBe(1);
    // Once applied, the membership is [a, b, c]: a campaigns, and asks b and c.
    const { ready } = handleReady(a, storage);
    expect(ready.committedEntries.map((e) => e.index)).toEqual([1, 2]);
    expect(a.status().confState.voters).toEqual(["a", "b", "c"]);
    a.campaign();
    expect(a.status().role).not.toBe(Role.Follower);
    expect(a.status().role).not.toBe(Role.Leader);
    const asked = handleReady(a, storage).ready.messages.map((m) => m.to).sort();
    expect(asked).toEqual(["b", "c"]);
  });
});
