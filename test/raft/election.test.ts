// Terms, votes, pre-vote and check-quorum (Raft §5.2, §5.4.1; dissertation §9.6).
import { describe, expect, test } from "bun:test";
import { CAMPAIGN_TRANSFER, MemoryStorage, MessageType, Role, type Message } from "../../src/raft/index";
import { Cluster, confState, drain, ELECTION_TICKS, entry, handleReady, msg, newNode, storageWithLog, zeroPrng } from "./helpers";

const three = confState(["a", "b", "c"]);
const ofType = (ms: Message[], type: MessageType) => ms.filter((m) => m.type === type);

describe("terms and votes", () => {
  test("a candidate's term and self-vote are in the Ready that carries its vote requests, marked mustSync", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    const a = newNode("a", s, { preVote: false });
    drain(a, s);
    a.campaign();
    const rd = a.ready();
    expect(rd.hardState).toEqual({ term: 2, vote: "a", commit: 1 });
    expect(rd.mustSync).toBe(true);
    expect(ofType(rd.messages, MessageType.Vote).map((m) => [m.to, m.term])).toEqual([["b", 2], ["c", 2]]);
  });

  test("a granted vote is persisted in the same Ready as the VoteResponse, before it is sent", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    const b = newNode("b", s);
    drain(b, s);
    b.step(msg({ type: MessageType.Vote, from: "a", to: "b", term: 2, index: 1, logTerm: 1 }));
    const rd = b.ready();
    expect(rd.hardState?.vote).toBe("a");
    expect(rd.mustSync).toBe(true);
    expect(rd.messages).toHaveLength(1);
    expect(rd.messages[0]!).toMatchObject({ type: MessageType.VoteResponse, reject: false, term: 2 });
  });

  test("a node restarted from persisted state does not vote twice in one term", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    const b = newNode("b", s);
    drain(b, s);
    b.step(msg({ type: MessageType.Vote, from: "a", to: "b", term: 2, index: 1, logTerm: 1 }));
    drain(b, s);
    const restarted = s.clone();
    const b2 = newNode("b", restarted);
    b2.step(msg({ type: MessageType.Vote, from: "c", to: "b", term: 2, index: 1, logTerm: 1 }));
    const out = drain(b2, restarted);
    expect(ofType(out, MessageType.VoteResponse)[0]!.reject).toBe(true);
    expect(b2.status().vote).toBe("a");
  });

  test("a vote is granted only to a candidate whose log is at least as up-to-date (§5.4.1)", () => {
    const cases: Array<{ lastIndex: number; lastTerm: number; granted: boolean }> = [
      { lastIndex: 3, lastTerm: 2, granted: true },
      { lastIndex: 4, lastTerm: 2, granted: true },
      { lastIndex: 2, lastTerm: 2, granted: false },
      { lastIndex: 9, lastTerm: 1, granted: false },
      { lastIndex: 1, lastTerm: 3, granted: true },
    ];
    for (const c of cases) {
      const s = storageWithLog(three, [entry(1, 1), entry(2, 2), entry(3, 2)], 2, 0);
      const b = newNode("b", s);
      b.step(msg({ type: MessageType.Vote, from: "a", to: "b", term: 3, index: c.lastIndex, logTerm: c.lastTerm }));
      const reply = ofType(drain(b, s), MessageType.VoteResponse)[0]!;
      expect({ ...c, granted: !reply.reject }).toEqual(c);
    }
  });

  test("any message with a higher term turns a leader into a follower of that term", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const term = c.node("a").status().term;
    c.node("a").step(msg({ type: MessageType.AppendResponse, from: "b", to: "a", term: term + 3 }));
    expect(c.node("a").status()).toMatchObject({ role: Role.Follower, term: term + 3, leader: "" });
  });

  test("responses from an older term are ignored", () => {
    const s = storageWithLog(three, [entry(1, 1)], 4, 1);
    const a = newNode("a", s, { preVote: false });
    a.campaign(); // term 5
    drain(a, s);
    a.step(msg({ type: MessageType.VoteResponse, from: "b", to: "a", term: 4 }));
    a.step(msg({ type: MessageType.VoteResponse, from: "c", to: "a", term: 4 }));
    expect(a.status().role).toBe(Role.Candidate);
  });

  test("a message addressed to another node is ignored", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    const b = newNode("b", s);
    drain(b, s);
    b.step(msg({ type: MessageType.Vote, from: "a", to: "c", term: 7, index: 1, logTerm: 1 }));
    expect(b.status().term).toBe(1);
    expect(b.hasReady()).toBe(false);
  });
});

describe("election timer", () => {
  test("election timeouts are drawn from the Prng in [electionTicks, 2*electionTicks)", () => {
    for (const draw of [0, ELECTION_TICKS - 1]) {
      const s = storageWithLog(three, [entry(1, 1)], 1, 1);
      const a = newNode("a", s, { prng: { nextInt: (n) => Math.min(draw, n - 1) } });
      drain(a, s);
      for (let i = 0; i < ELECTION_TICKS + draw - 1; i++) a.tick();
      expect(a.status().role).toBe(Role.Follower);
      a.tick();
      expect(a.status().role).toBe(Role.PreCandidate);
    }
  });

  test("a Prng that answers outside [0, n) is caught loudly", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    expect(() => newNode("a", s, { prng: { nextInt: (n) => n } })).toThrow(/Prng/);
  });

  test("hearing from the current leader resets the timer; other messages do not", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    const b = newNode("b", s);
    drain(b, s);
    for (let i = 0; i < ELECTION_TICKS - 1; i++) b.tick();
    b.step(msg({ type: MessageType.Heartbeat, from: "a", to: "b", term: 1, commit: 1 }));
    b.tick();
    expect(b.status().role).toBe(Role.Follower); // reset by the leader's heartbeat
    for (let i = 0; i < ELECTION_TICKS - 2; i++) b.tick();
    // A response from a peer is not a sign of a live leader.
    b.step(msg({ type: MessageType.AppendResponse, from: "c", to: "b", term: 1 }));
    b.tick();
    expect(b.status().role).toBe(Role.PreCandidate);
  });

  test("granting a vote resets the timer", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    const b = newNode("b", s, { checkQuorum: false });
    drain(b, s);
    for (let i = 0; i < ELECTION_TICKS - 1; i++) b.tick();
    b.step(msg({ type: MessageType.Vote, from: "a", to: "b", term: 2, index: 1, logTerm: 1 }));
    b.tick();
    expect(b.status().role).toBe(Role.Follower);
  });

  test("a node with an empty ConfState (a joiner) never campaigns, but follows a leader", () => {
    const s = new MemoryStorage();
    const d = newNode("d", s);
    for (let i = 0; i < 5 * ELECTION_TICKS; i++) d.tick();
    d.campaign();
    expect(d.status()).toMatchObject({ role: Role.Follower, term: 0 });
    d.step(msg({ type: MessageType.Heartbeat, from: "a", to: "d", term: 3 }));
    expect(d.status()).toMatchObject({ leader: "a", term: 3 });
  });

  test("a single voter elects itself as soon as it times out", () => {
    const s = new MemoryStorage({ confState: confState(["solo"]) });
    const n = newNode("solo", s);
    for (let i = 0; i < ELECTION_TICKS; i++) n.tick();
    expect(n.status().role).toBe(Role.Leader);
  });
});

describe("pre-vote (dissertation §9.6)", () => {
  test("a pre-vote request does not change the receiver's term or vote", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    const b = newNode("b", s);
    drain(b, s);
    b.step(msg({ type: MessageType.PreVote, from: "a", to: "b", term: 2, index: 1, logTerm: 1 }));
    const reply = ofType(drain(b, s), MessageType.PreVoteResponse)[0]!;
    expect(reply).toMatchObject({ reject: false, term: 2 });
    expect(b.status()).toMatchObject({ term: 1, vote: "" });
  });

  test("a pre-candidate keeps its term and becomes a candidate only with a quorum of pre-votes", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1, 1);
    const a = newNode("a", s);
    drain(a, s);
    a.campaign();
    const out = drain(a, s);
    expect(ofType(out, MessageType.PreVote).map((m) => m.term)).toEqual([2, 2]);
    expect(a.status()).toMatchObject({ role: Role.PreCandidate, term: 1 });
    a.step(msg({ type: MessageType.PreVoteResponse, from: "b", to: "a", term: 2 }));
    expect(a.status()).toMatchObject({ role: Role.Candidate, term: 2, vote: "a" });
  });

  test("a partitioned node's repeated pre-campaigns do not raise its term, so it cannot depose the leader on return", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const term = c.node("a").status().term;
    c.isolate("c");
    c.tickAll(10 * ELECTION_TICKS);
    expect(c.node("c").status().term).toBe(term);
    c.heal();
    c.tickAll(3 * ELECTION_TICKS);
    expect(c.node("a").status()).toMatchObject({ role: Role.Leader, term });
    expect(c.node("c").status().leader).toBe("a");
  });
});

describe("pre-candidates whose timers fire together", () => {
  test("in the tick both start, the higher id yields: one election, no split vote", () => {
    // zeroPrng: every timeout is exactly ELECTION_TICKS, so b and c fire in
    // the same tick every time; without the tie-break they split forever.
    const c = new Cluster(["a", "b", "c"], { prng: zeroPrng });
    c.elect("a");
    const term = c.node("a").status().term;
    c.isolate("a");
    c.tickAll(ELECTION_TICKS);
    expect(c.node("b").status()).toMatchObject({ role: Role.Leader, term: term + 1 });
    expect(c.node("c").status()).toMatchObject({ role: Role.Follower, term: term + 1, leader: "b" });
  });

  test("a pre-candidate that cannot win on its own does not block a rival that can", () => {
    // d and e are gone; a and c hear only b. a and c stand in vain every
    // ELECTION_TICKS; b's timer is the longest, so a is a pre-candidate
    // when b stands, and b needs a's pre-vote. a refuses it only in the
    // tick a itself started campaigning.
    const c = new Cluster(["a", "b", "c", "d", "e"], { prng: zeroPrng });
    c.elect("e");
    const term = c.node("e").status().term;
    c.restart("b", { prng: { nextInt: (n) => n - 1 } });
    const cut = new Set(["a|c", "c|a"]);
    c.dropped = (m) => m.from === "d" || m.to === "d" || m.from === "e" || m.to === "e" || cut.has(`${m.from}|${m.to}`);
    c.tickAll(4 * ELECTION_TICKS);
    expect(c.node("b").status().role).toBe(Role.Leader);
    expect(c.node("b").status().term).toBeGreaterThan(term);
    expect(c.node("a").status().leader).toBe("b");
  });
});

describe("check-quorum and leader leases", () => {
  test("a node that heard from a live leader within the election timeout ignores a vote request", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const term = c.node("a").status().term;
    c.node("b").step(msg({ type: MessageType.Vote, from: "c", to: "b", term: term + 1, index: 99, logTerm: 99 }));
    expect(c.node("b").status()).toMatchObject({ term, leader: "a" });
    c.node("b").step(msg({ type: MessageType.PreVote, from: "c", to: "b", term: term + 1, index: 99, logTerm: 99 }));
    expect(c.node("b").hasReady()).toBe(false);
  });

  test("a campaign marked CAMPAIGN_TRANSFER bypasses the lease", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const term = c.node("a").status().term;
    const lastIndex = c.node("a").status().lastIndex;
    c.node("b").step(msg({ type: MessageType.Vote, from: "c", to: "b", term: term + 1, index: lastIndex, logTerm: term, context: CAMPAIGN_TRANSFER }));
    expect(c.node("b").status()).toMatchObject({ term: term + 1, vote: "c" });
  });

  test("a leader that has not heard from a quorum within an election timeout steps down", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("b", "c");
    // Answers received before the cut count for the window in progress; the
    // next full window without any answer ends the leadership.
    c.tickAll(ELECTION_TICKS);
    expect(c.node("a").status().role).toBe(Role.Leader);
    c.tickAll(ELECTION_TICKS);
    expect(c.node("a").status()).toMatchObject({ role: Role.Follower, leader: "" });
  });

  test("a leader that keeps hearing from a quorum stays leader", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("c");
    c.tickAll(5 * ELECTION_TICKS);
    expect(c.node("a").status().role).toBe(Role.Leader);
  });

  test("without check-quorum a cut-off leader stays leader (the option is honoured)", () => {
    const c = new Cluster(["a", "b", "c"], { checkQuorum: false });
    c.elect("a");
    c.isolate("b", "c");
    for (let i = 0; i < 3 * ELECTION_TICKS; i++) {
      c.node("a").tick();
      c.settle();
    }
    expect(c.node("a").status().role).toBe(Role.Leader);
  });

  test("a node answers a stale-term Append with its term, so the stale leader steps down", () => {
    const c = new Cluster(["a", "b", "c"], { checkQuorum: false });
    c.elect("a");
    const old = c.node("a").status().term;
    c.isolate("a");
    c.elect("b");
    c.node("b").step(msg({ type: MessageType.Append, from: "a", to: "b", term: old, index: 1, logTerm: 1 }));
    const rd = handleReady(c.node("b"), c.get("b").storage).ready;
    const reply = ofType(rd.messages, MessageType.AppendResponse).find((m) => m.to === "a")!;
    expect(reply.term).toBeGreaterThan(old);
    c.node("a").step(reply);
    expect(c.node("a").status().role).toBe(Role.Follower);
  });
});

describe("a member that lost acknowledged entries (its data dir wiped or rolled back)", () => {
  test("a heartbeat's commit past its last index marks it; it then never votes, pre-votes or campaigns", () => {
    // A voter whose log was wiped: it knows the membership (as a restarted joiner learns it) but holds no entries.
    const s = new MemoryStorage({ confState: three });
    const c = newNode("c", s);
    drain(c, s);
    const { lastIndex, commit } = c.status();
    expect(lastIndex).toBeLessThan(27);
    c.step(msg({ type: MessageType.Heartbeat, from: "a", to: "c", term: 2, commit: 27 }));
    drain(c, s);
    expect(c.status().lostLog).toEqual({ leader: "a", acknowledged: 27, lastIndex });
    expect(c.status().commit).toBe(Math.max(commit, lastIndex));

    // The leader goes quiet: past the election timeout it neither campaigns nor lets itself be won over.
    for (let i = 0; i < ELECTION_TICKS * 4; i++) c.tick();
    const out = drain(c, s);
    expect(out.filter((m) => m.type === MessageType.Vote || m.type === MessageType.PreVote)).toEqual([]);
    expect(c.status().role).toBe(Role.Follower);

    c.step(msg({ type: MessageType.PreVote, from: "b", to: "c", term: 3, index: 30, logTerm: 2 }));
    c.step(msg({ type: MessageType.Vote, from: "b", to: "c", term: 3, index: 30, logTerm: 2 }));
    const replies = drain(c, s).filter((m) => m.type === MessageType.VoteResponse || m.type === MessageType.PreVoteResponse);
    expect(replies.map((m) => [m.type, m.reject])).toEqual([
      [MessageType.PreVoteResponse, true],
      [MessageType.VoteResponse, true],
    ]);
    expect(c.status().vote).not.toBe("b");
  });

  test("a heartbeat within its log (the usual case, a follower that is behind included) marks nothing", () => {
    const s = storageWithLog(three, [entry(1, 1), entry(2, 1), entry(3, 1)], 1, 1);
    const c = newNode("c", s);
    drain(c, s);
    c.step(msg({ type: MessageType.Heartbeat, from: "a", to: "c", term: 1, commit: 3 }));
    drain(c, s);
    expect(c.status().lostLog).toBeUndefined();
    expect(c.status().commit).toBe(3);
  });
});
