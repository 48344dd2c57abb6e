// Leadership transfer (dissertation §3.10).
import { describe, expect, test } from "bun:test";
import { MessageType, RaftError, Role } from "../../src/raft/index";
import { bytes, Cluster, ELECTION_TICKS } from "./helpers";

describe("leadership transfer", () => {
  test("the leader catches the target up, sends TimeoutNow, and the target wins at once despite leader leases", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const term = c.node("a").status().term;
    c.isolate("c");
    for (let i = 0; i < 3; i++) c.node("a").propose(bytes(`x${i}`));
    c.settle();
    c.heal();
    c.node("a").transferLeadership("c");
    c.settle();
    expect(c.deliveredOf(MessageType.TimeoutNow).map((m) => m.to)).toEqual(["c"]);
    expect(c.node("c").status()).toMatchObject({ role: Role.Leader, term: term + 1 });
    expect(c.node("a").status()).toMatchObject({ role: Role.Follower, leader: "c" });
    c.tickAll(1);
    expect(c.appliedData("c")).toEqual(["x0", "x1", "x2"]);
  });

  test("during a transfer the leader refuses proposals with transfer_in_progress", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("c");
    c.node("a").transferLeadership("c");
    try {
      c.node("a").propose(bytes("x"));
      throw new Error("expected a RaftError");
    } catch (e) {
      expect(e).toBeInstanceOf(RaftError);
      expect(e as RaftError).toMatchObject({ reason: "transfer_in_progress", leaderHint: "c" });
    }
  });

  test("a transfer that does not finish within an election timeout is abandoned and the old leader resumes", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("c");
    c.node("a").transferLeadership("c");
    c.tickAll(ELECTION_TICKS);
    expect(c.node("a").status()).toMatchObject({ role: Role.Leader, leadTransferee: "" });
    expect(() => c.node("a").propose(bytes("x"))).not.toThrow();
  });

  test("a follower's request is forwarded to the leader", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.node("b").transferLeadership("c");
    c.settle();
    expect(c.deliveredOf(MessageType.TransferLeader).map((m) => [m.from, m.to])).toEqual([["b", "a"]]);
    expect(c.node("c").status().role).toBe(Role.Leader);
  });

  test("a transfer to a non-voter is refused", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    expect(() => c.node("a").transferLeadership("zz")).toThrow(/not a voter/);
  });
});
