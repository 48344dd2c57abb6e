// Log replication and flow control: consistency check, hints, stale answers,
// probe/replicate states, batching and the byte limits.
import { describe, expect, test } from "bun:test";
import { MessageType, RaftError, Role, type Message } from "../../src/raft/index";
import { bytes, Cluster, confState, drain, entry, msg, newNode, storageWithLog } from "./helpers";

const three = confState(["a", "b", "c"]);
const appendsTo = (ms: Message[], to: string) => ms.filter((m) => m.type === MessageType.Append && m.to === to);

describe("AppendEntries on the follower", () => {
  test("a mismatched prevLogIndex/prevLogTerm is rejected with a conflict hint (index and term)", () => {
    const s = storageWithLog(three, [entry(1, 1), entry(2, 2), entry(3, 2), entry(4, 2)], 3);
    const b = newNode("b", s);
    b.step(msg({ type: MessageType.Append, from: "a", to: "b", term: 3, index: 4, logTerm: 3, entries: [entry(5, 3)] }));
    const reply = drain(b, s).find((m) => m.type === MessageType.AppendResponse)!;
    // Hint: our largest index whose term is <= the leader's prevLogTerm, with its term;
    // the leader then skips back over every entry of a term it does not share.
    expect(reply).toMatchObject({ reject: true, index: 4, rejectHint: 4, logTerm: 2 });
    expect(s.lastIndex()).toBe(4);
  });

  test("a duplicated, delayed Append whose entries all match truncates nothing", () => {
    const s = storageWithLog(three, [entry(1, 1)], 2);
    const b = newNode("b", s);
    const early = msg({ type: MessageType.Append, from: "a", to: "b", term: 2, index: 1, logTerm: 1, entries: [entry(2, 2)] });
    const later = msg({ type: MessageType.Append, from: "a", to: "b", term: 2, index: 1, logTerm: 1, entries: [entry(2, 2), entry(3, 2), entry(4, 2)], commit: 4 });
    b.step(later);
    drain(b, s);
    b.step(early);
    const reply = drain(b, s).find((m) => m.type === MessageType.AppendResponse)!;
    expect(s.lastIndex()).toBe(4);
    expect(b.status().commit).toBe(4);
    expect(reply.index).toBe(4); // answers at or below what it holds: its commit index
  });

  test("the follower's commit is min(leaderCommit, last new entry)", () => {
    const s = storageWithLog(three, [entry(1, 1)], 2);
    const b = newNode("b", s);
    b.step(msg({ type: MessageType.Append, from: "a", to: "b", term: 2, index: 1, logTerm: 1, entries: [entry(2, 2)], commit: 9 }));
    expect(b.status().commit).toBe(2);
  });

  test("a heartbeat never moves the follower's commit beyond its log", () => {
    const s = storageWithLog(three, [entry(1, 1), entry(2, 1)], 2);
    const b = newNode("b", s);
    b.step(msg({ type: MessageType.Heartbeat, from: "a", to: "b", term: 2, commit: 2 }));
    expect(b.status().commit).toBe(2);
  });
});

describe("the leader's view of followers", () => {
  test("a late AppendResponse from an older term moves neither match nor commit", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("b", "c");
    c.node("a").propose(bytes("x"));
    c.settle();
    const before = c.node("a").status();
    const stale = msg({ type: MessageType.AppendResponse, from: "b", to: "a", term: before.term - 1, index: before.lastIndex });
    c.node("a").step(stale);
    c.node("a").step({ ...stale, from: "c" });
    const after = c.node("a").status();
    expect(after.progress?.b?.match).toBe(before.progress?.b?.match!);
    expect(after.commit).toBe(before.commit);
  });

  test("a duplicate AppendResponse with a lower index does not move match backwards", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").propose(bytes("x"));
    c.settle();
    const { term, progress } = c.node("a").status();
    c.node("a").step(msg({ type: MessageType.AppendResponse, from: "b", to: "a", term, index: 1 }));
    expect(c.node("a").status().progress?.b?.match).toBe(progress?.b?.match!);
  });

  test("a follower in probe gets one Append and no more until it answers", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").reportUnreachable("c");
    expect(c.node("a").status().progress?.c?.state).toBe("probe");
    c.dropped = (m) => m.to === "c";
    c.sent = [];
    for (let i = 0; i < 5; i++) {
      c.node("a").propose(bytes(`p${i}`));
      c.settle();
    }
    expect(appendsTo(c.sent, "c")).toHaveLength(1);
    expect(appendsTo(c.sent, "b").filter((m) => m.entries.length > 0)).toHaveLength(5);
  });

  test("a follower in replicate gets pipelined Appends up to maxInflightAppends without answers", () => {
    const c = new Cluster(["a", "b", "c"], { maxInflightAppends: 3 });
    c.elect("a");
    expect(c.node("a").status().progress?.b?.state).toBe("replicate");
    c.dropped = (m) => m.from === "b";
    c.sent = [];
    for (let i = 0; i < 6; i++) {
      c.node("a").propose(bytes(`p${i}`));
      c.settle();
    }
    expect(appendsTo(c.sent, "b").filter((m) => m.entries.length > 0)).toHaveLength(3);
  });

  test("after Appends are lost, a heartbeat answer lets the leader resend and the follower catches up", () => {
    const c = new Cluster(["a", "b", "c"], { maxInflightAppends: 2 });
    c.elect("a");
    c.dropped = (m) => m.to === "b" && m.type === MessageType.Append;
    for (let i = 0; i < 4; i++) {
      c.node("a").propose(bytes(`p${i}`));
      c.settle();
    }
    c.heal();
    c.tickAll(3);
    expect(c.appliedData("b")).toEqual(["p0", "p1", "p2", "p3"]);
  });

  test("reportUnreachable turns a replicating follower back to probe", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").reportUnreachable("b");
    expect(c.node("a").status().progress?.b?.state).toBe("probe");
    c.node("a").propose(bytes("x"));
    c.settle();
    expect(c.node("a").status().progress?.b?.state).toBe("replicate");
  });

  test("a leader never overwrites or deletes its own entries (append-only)", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").propose(bytes("x"));
    c.settle();
    const before = c.logTerms("a");
    const term = c.node("a").status().term;
    c.node("a").step(msg({ type: MessageType.Append, from: "b", to: "a", term, index: 1, logTerm: 1, entries: [entry(2, term)] }));
    c.settle();
    expect(c.logTerms("a")).toEqual(before);
  });
});

describe("batching and limits", () => {
  test("many proposals produce one Ready and one Append per follower carrying all of them", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const a = c.get("a");
    for (let i = 0; i < 100; i++) a.node.propose(bytes(`p${i}`));
    const rd = a.node.ready();
    expect(rd.entries).toHaveLength(100);
    expect(rd.mustSync).toBe(true);
    const appends = rd.messages.filter((m) => m.type === MessageType.Append);
    expect(appends.map((m) => [m.to, m.entries.length])).toEqual([["b", 100], ["c", 100]]);
    expect(a.node.hasReady()).toBe(false); // one Ready outstanding at a time
    a.node.advance();
  });

  test("an Append carries entries only up to maxAppendBytes", () => {
    const c = new Cluster(["a", "b", "c"], { maxAppendBytes: 1000 });
    c.elect("a");
    for (let i = 0; i < 10; i++) c.node("a").propose(new Uint8Array(300));
    c.sent = [];
    c.settle();
    const sizes = appendsTo(c.sent, "b").map((m) => m.entries.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(10);
    expect(c.node("b").status().commit).toBe(c.node("a").status().lastIndex);
  });

  test("maxUncommittedBytes bounds the leader's uncommitted tail with RaftError overloaded", () => {
    const c = new Cluster(["a", "b", "c"], { maxUncommittedBytes: 1000 });
    c.elect("a");
    c.isolate("b", "c");
    c.node("a").propose(new Uint8Array(600));
    let error: unknown;
    try {
      c.node("a").propose(new Uint8Array(600));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RaftError);
    expect((error as RaftError).reason).toBe("overloaded");
    c.heal();
    c.tickAll(2);
    expect(() => c.node("a").propose(new Uint8Array(600))).not.toThrow();
  });

  test("a follower refuses proposals with not_leader and names the leader", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    try {
      c.node("b").propose(bytes("x"));
      throw new Error("expected a RaftError");
    } catch (e) {
      expect(e).toBeInstanceOf(RaftError);
      expect(e as RaftError).toMatchObject({ reason: "not_leader", leaderHint: "a" });
    }
    expect(c.node("b").status().role).toBe(Role.Follower);
  });
});
