// RemovalWatch decides when a member believes it was removed (see
// src/server/removal-watch.ts); the e2e side is test/e2e/removal.test.ts.
import { describe, expect, test } from "bun:test";
import { MessageType, type Message } from "../../src/raft/index.ts";
import { createLogger } from "../../src/server/logger.ts";
import { RemovalWatch } from "../../src/server/removal-watch.ts";

const ELECTION_MS = 1000;

function watch() {
  let now = 0;
  const reasons: string[] = [];
  const lines: string[] = [];
  const w = new RemovalWatch({
    self: "n3",
    dataDir: "/var/lib/dkv",
    electionTimeoutMs: ELECTION_MS,
    log: createLogger("n3", "info", (l) => lines.push(l)),
    onRemoved: (reason) => reasons.push(reason),
    isStopping: () => false,
    now: () => now,
  });
  return { w, reasons, lines, advance: (ms: number) => (now += ms) };
}

const heartbeat = { type: MessageType.Heartbeat, from: "n1", to: "n3" } as Message;
const voteResponse = { type: MessageType.PreVoteResponse, from: "n1", to: "n3" } as Message;

describe("RemovalWatch", () => {
  test("its own tombstone counts after two election timeouts without a leader's word, once", () => {
    const { w, reasons, advance } = watch();
    w.update(new Set(["n3"]));
    advance(2 * ELECTION_MS - 1);
    w.tick();
    expect(reasons).toEqual([]);
    advance(1);
    w.tick();
    w.tick();
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBe(
      "this member (n3) was removed from the cluster (its removal is in its own log, and no leader has contacted it since); stopping. " +
        "To add it back: dkv member add, then start it with an empty --data-dir (delete /var/lib/dkv first)",
    );
  });

  test("a leader still sending (a member replaying its old removal on the way to its re-adding) keeps it going", () => {
    const { w, reasons, advance } = watch();
    w.update(new Set(["n3"]));
    for (let i = 0; i < 50; i++) {
      advance(ELECTION_MS / 2);
      w.noteMessage(heartbeat);
      w.tick();
    }
    // Messages that are not a leader's do not count as its word.
    for (let i = 0; i < 5; i++) {
      advance(ELECTION_MS / 2);
      w.noteMessage(voteResponse);
    }
    w.tick();
    expect(reasons).toHaveLength(1);
  });

  test("a tombstone that went away (added back) is not acted on; others' tombstones only answer isRemoved", () => {
    const { w, reasons, advance } = watch();
    w.update(new Set(["n3", "n5"]));
    w.update(new Set(["n5"]));
    advance(10 * ELECTION_MS);
    w.tick();
    expect(reasons).toEqual([]);
    expect(w.isRemoved("n5")).toBe(true);
    expect(w.isRemoved("n3")).toBe(false);
  });

  test("a Removed frame counts from a member, and only while no leader has spoken for an election timeout", () => {
    const { w, reasons, advance } = watch();
    w.noteMessage(heartbeat);
    advance(ELECTION_MS - 1);
    w.toldBy("n1", true);
    advance(1);
    w.toldBy("n9", false);
    expect(reasons).toEqual([]);
    w.toldBy("n1", true);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toContain("(member n1 says so)");
  });

  test("a lost log stops it at once, with what to do, once", () => {
    const { w, reasons } = watch();
    w.lostLog({ leader: "n1", acknowledged: 27, lastIndex: 3 });
    w.lostLog({ leader: "n1", acknowledged: 28, lastIndex: 3 });
    expect(reasons).toEqual([
      "this member's raft log ends at index 3, but the leader n1 knows it had acknowledged entries up to 27: its data dir was wiped, replaced or rolled back, " +
        "and it must not vote; stopping. Remove it (dkv member remove n3), add it back (dkv member add), and start it with an empty --data-dir",
    ]);
  });
});
