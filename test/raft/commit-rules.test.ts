// The paper's figures as executable scenarios: Figure 7 (followers brought in
// line with the leader) and Figure 8 (commit only by counting current-term entries).
import { describe, expect, test } from "bun:test";
import { type Entry, EntryType, type Message, MessageType, type RaftConfig, Role } from "../../src/raft/index";
import { Cluster, confState, entry, msg, storageWithLog } from "./helpers";

const raw: Partial<RaftConfig> = { preVote: false, checkQuorum: false };
const logOf = (terms: number[]): Entry[] => terms.map((t, i) => entry(i + 1, t));

describe("Figure 7: a new leader brings every follower's log in line with its own", () => {
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, followerLog] of Object.entries(followers)) {
    test(`follower (${name}) ends with exactly the leader's log, after at most two rejections (fast backoff)`, () => {
      const cs = confState(["L", "F", "X"]);
      const c = new Cluster([]);
      c.add("L", storageWithLog(cs, logOf(leaderLog), 8), raw);
      c.add("F", storageWithLog(cs, logOf(followerLog), 8), raw);
      c.add("X", storageWithLog(cs, logOf(leaderLog), 8), raw);
      c.dropped = (m) => m.from === "X" || m.to === "X";
      c.node("L").campaign();
      c.settle();
      c.node("L").step(msg({ type: MessageType.VoteResponse, from: "X", to: "L", term: 9 }));
      c.settle();
      expect(c.node("L").status().role).toBe(Role.Leader);
      expect(c.logTerms("F")).toEqual([...leaderLog, 9]);
      expect(c.node("F").status().commit).toBe(leaderLog.length + 1);
      const rejections = c.delivered.filter((m) => m.type === MessageType.AppendResponse && m.reject);
      expect(rejections.length).toBeLessThanOrEqual(2);
    });
  }
});

describe("Figure 8: a leader commits by counting replicas only entries of its own term (§5.4.2)", () => {
  const servers = ["S1", "S2", "S3", "S4", "S5"];
  // One entry per Append, so the scenario controls exactly which index reaches whom.
  const config: Partial<RaftConfig> = { ...raw, maxAppendBytes: 1 };

  function campaignUntilLeader(c: Cluster, id: string): void {
    for (let i = 0; i < 5 && c.node(id).status().role !== Role.Leader; i++) {
      c.node(id).campaign();
      c.settle();
    }
    expect(c.node(id).status().role).toBe(Role.Leader);
  }

  /**
   * Runs (a)-(c): index 2 of term 2 ends up on a majority while S1 leads term 4.
   * (S1 learns of copies through acknowledgements, so in (c) it replicates index
   * 2 to S3 and S4 — S2's copy from (a) is never acknowledged to the new term.)
   */
  function throughStepC(): Cluster {
    const cs = confState(servers);
    const c = new Cluster([]);
    for (const id of servers) c.add(id, storageWithLog(cs, [entry(1, 1)], 1, 1), config);
    // (a) S1 leads term 2; its index 2 (term 2) reaches S2 only.
    c.dropped = (m) => m.from === "S1" && m.type === MessageType.Append && m.to !== "S2";
    campaignUntilLeader(c, "S1");
    expect(c.node("S1").status().term).toBe(2);
    expect(c.logTerms("S2")).toEqual([1, 2]);
    // (b) S1 crashes; S5 wins term 3 with S3 and S4, and its index 2 (term 3) reaches nobody.
    c.dropped = (m) => m.from === "S1" || m.to === "S1" || (m.from === "S5" && m.type === MessageType.Append);
    campaignUntilLeader(c, "S5");
    expect(c.node("S5").status().term).toBe(3);
    expect(c.logTerms("S5")).toEqual([1, 3]);
    // (c) S5 crashes; S1 restarts and leads term 4, replicating index 2 to S3 and S4; index 3 (term 4) stays on S1.
    c.restart("S1", config);
    const wouldStoreIndex3 = (m: Message) =>
      m.type === MessageType.Append && m.entries.some((e) => e.index >= 3) && c.get(m.to).storage.lastIndex() >= 2;
    c.dropped = (m) => m.from === "S5" || m.to === "S5" || (m.from === "S1" && wouldStoreIndex3(m));
    campaignUntilLeader(c, "S1");
    expect(c.node("S1").status().term).toBe(4);
    expect(["S1", "S2", "S3", "S4"].map((id) => c.logTerms(id))).toEqual([[1, 2, 4], [1, 2], [1, 2], [1, 2]]);
    return c;
  }

  test("(c) an entry of an earlier term stored on a majority is NOT committed by counting", () => {
    const c = throughStepC();
    const status = c.node("S1").status();
    expect([status.progress?.S3?.match, status.progress?.S4?.match]).toEqual([2, 2]);
    expect(status.commit).toBe(1);
    for (const id of servers) expect(c.get(id).applied.some((e) => e.index === 2)).toBe(false);
  });

  test("(d) ...and indeed it can still be overwritten by S5, which was never told it was committed", () => {
    const c = throughStepC();
    // S1 crashes; S5 restarts and, with the most up-to-date last term (3), wins S2, S3 and S4.
    c.restart("S5", config);
    c.dropped = (m) => m.from === "S1" || m.to === "S1";
    campaignUntilLeader(c, "S5");
    c.settle();
    for (const id of ["S2", "S3", "S4", "S5"]) expect(c.logTerms(id).slice(0, 2)).toEqual([1, 3]);
    // State machine safety: whatever anyone applied at index 2 is what the log now holds there.
    const appliedAt2 = servers.flatMap((id) => c.get(id).applied.filter((e) => e.index === 2).map((e) => e.term));
    expect(appliedAt2.every((t) => t === 3)).toBe(true);
  });

  test("(e) once an entry of the leader's term is on a majority, it and everything before it commit, and S5 can never win", () => {
    const c = throughStepC();
    c.dropped = (m) => m.from === "S5" || m.to === "S5" || m.to === "S4" || m.from === "S4";
    c.node("S1").tick(); // heartbeat: S2 and S3 answer, and S1 sends them index 3
    c.settle();
    expect(c.node("S1").status().commit).toBe(3);
    expect(c.get("S1").applied.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 2], [3, 4]]);
    // S1 crashes; S5 restarts and campaigns, but S2 and S3 hold a newer last term.
    c.restart("S5", config);
    c.dropped = (m) => m.from === "S1" || m.to === "S1";
    for (let i = 0; i < 4; i++) {
      c.node("S5").campaign();
      c.settle();
    }
    expect(c.node("S5").status().role).not.toBe(Role.Leader);
    for (const id of ["S2", "S3"]) expect(c.logTerms(id)).toEqual([1, 2, 4]);
  });

  test("a new leader appends an empty no-op of its term at once", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const s = c.get("a").storage;
    const last = s.entries(s.lastIndex(), s.lastIndex() + 1, Infinity)[0]!;
    expect(last).toMatchObject({ term: c.node("a").status().term, type: EntryType.Normal });
    expect(last.data.length).toBe(0);
    expect(c.node("b").status().commit).toBe(last.index);
  });
});
