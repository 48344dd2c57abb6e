// Linearizable reads by ReadIndex (dissertation §6.4).
import { describe, expect, test } from "bun:test";
import { MemoryStorage, MessageType, RaftError, Role } from "../../src/raft/index";
import { bytes, Cluster, confState, ELECTION_TICKS, text } from "./helpers";

describe("ReadIndex", () => {
  test("a single-voter cluster answers at once with its commit index", () => {
    const c = new Cluster([]);
    c.add("solo", new MemoryStorage({ confState: confState(["solo"]) }));
    c.tickAll(2 * ELECTION_TICKS);
    c.node("solo").propose(bytes("x"));
    c.settle();
    c.node("solo").readIndex(bytes("r1"));
    c.settle();
    const rs = c.get("solo").readStates;
    expect(rs.map((r) => [r.index, text(r.context)])).toEqual([[c.node("solo").status().commit, "r1"]]);
  });

  test("the leader answers only after a quorum acknowledged a heartbeat carrying the read's context", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").propose(bytes("x"));
    c.settle();
    const commit = c.node("a").status().commit;
    c.isolate("b", "c");
    c.node("a").readIndex(bytes("r1"));
    c.settle();
    expect(c.get("a").readStates).toEqual([]);
    const heartbeats = c.sent.filter((m) => m.type === MessageType.Heartbeat && text(m.context) === "r1");
    expect(heartbeats.length).toBe(2);
    c.heal();
    c.tickAll(1);
    expect(c.get("a").readStates.map((r) => [r.index, text(r.context)])).toEqual([[commit, "r1"]]);
  });

  test("a leader cut off from its quorum never answers (a stale leader would serve stale reads)", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("a");
    c.node("a").readIndex(bytes("r1"));
    c.tickAll(3 * ELECTION_TICKS);
    expect(c.get("a").readStates).toEqual([]);
    expect(c.node("a").status().role).not.toBe(Role.Leader);
  });

  test("reads are held until the new leader commits an entry of its term", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.dropped = (m) => m.type === MessageType.AppendResponse;
    c.elect("a");
    c.node("a").readIndex(bytes("early"));
    c.settle();
    c.tickAll(1);
    expect(c.get("a").readStates).toEqual([]);
    c.heal();
    c.tickAll(2);
    const status = c.node("a").status();
    const [rs] = c.get("a").readStates;
    expect(text(rs!.context)).toBe("early");
    expect(rs!.index).toBe(status.commit); // at least the no-op of this term
  });

  test("reads are released in the order they arrived, each with the commit index at its arrival", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("b", "c");
    c.node("a").readIndex(bytes("r1"));
    c.settle();
    c.heal();
    c.settle();
    c.node("a").propose(bytes("x"));
    c.settle();
    c.isolate("b", "c");
    c.node("a").readIndex(bytes("r2"));
    c.node("a").readIndex(bytes("r3"));
    c.settle();
    c.heal();
    c.tickAll(1);
    const got = c.get("a").readStates.map((r) => [text(r.context), r.index]);
    expect(got.map((g) => g[0])).toEqual(["r1", "r2", "r3"]);
    expect(got[0]![1]).toBeLessThan(got[1]![1] as number);
  });

  test("a follower forwards the read to the leader and gets the read index back", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").propose(bytes("x"));
    c.settle();
    c.node("b").readIndex(bytes("fr"));
    c.settle();
    expect(c.deliveredOf(MessageType.ReadIndex).map((m) => [m.from, m.to])).toEqual([["b", "a"]]);
    expect(c.get("b").readStates.map((r) => [r.index, text(r.context)])).toEqual([[c.node("a").status().commit, "fr"]]);
  });

  test("a node that knows no leader refuses a read with not_leader", () => {
    const s = new MemoryStorage({ confState: confState(["a", "b", "c"]) });
    const c = new Cluster([]);
    c.add("a", s);
    expect(() => c.node("a").readIndex(bytes("r"))).toThrow(RaftError);
  });
});
