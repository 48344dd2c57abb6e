// Snapshots (§7): compaction, chunked InstallSnapshot, and the follower's rules.
import { describe, expect, test } from "bun:test";
import { MessageType, type SnapshotMeta } from "../../src/raft/index";
import { bytes, Cluster, confState, drain, ELECTION_TICKS, entry, msg, newNode, storageWithLog } from "./helpers";

const IMAGE = bytes("0123456789"); // 10 bytes: 3 chunks of at most 4 bytes

/** a leads; c misses entries that a then compacts away behind a snapshot. */
function compactedBehindFollower(image = IMAGE): Cluster {
  const c = new Cluster(["a", "b", "c"], { maxSnapshotChunkBytes: 4 });
  c.elect("a");
  c.isolate("c");
  for (let i = 0; i < 5; i++) c.node("a").propose(bytes(`v${i}`));
  c.settle();
  c.tickAll(1);
  const a = c.get("a");
  const applied = a.node.status().applied;
  a.storage.createSnapshot(applied, a.node.status().confState, image);
  a.storage.compact(applied);
  return c;
}

describe("InstallSnapshot", () => {
  test("a follower whose next entry was compacted gets the snapshot in chunks, then the log continues from it", () => {
    const c = compactedBehindFollower();
    c.heal();
    c.sent = [];
    c.tickAll(1);
    c.node("a").propose(bytes("after"));
    c.settle();
    c.tickAll(1);
    const chunks = c.sent.filter((m) => m.type === MessageType.Snapshot);
    expect(chunks.map((m) => [m.snapshotOffset, m.snapshotData.length, m.snapshotDone])).toEqual([
      [0, 4, false],
      [4, 4, false],
      [8, 2, true],
    ]);
    const follower = c.get("c");
    expect(follower.storage.snapshotImage()).toEqual(IMAGE);
    expect(follower.storage.firstIndex()).toBe(c.get("a").storage.firstIndex());
    expect(c.appliedData("c")).toEqual(["after"]);
    expect(follower.node.status().commit).toBe(c.node("a").status().commit);
  });

  test("each chunk is staged in a Ready before its ack; the last one also installs the snapshot and carries its ConfState", () => {
    const s = storageWithLog(confState(["a", "b", "c"]), [entry(1, 1)], 2, 1);
    const f = newNode("c", s);
    drain(f, s);
    const meta: SnapshotMeta = { index: 10, term: 2, confState: confState(["a", "b", "c", "d"]), sizeBytes: 6 };
    const chunk = (offset: number, data: string, done: boolean) =>
      msg({ type: MessageType.Snapshot, from: "a", to: "c", term: 2, snapshot: meta, snapshotOffset: offset, snapshotData: bytes(data), snapshotDone: done });
    f.step(chunk(0, "abc", false));
    let rd = f.ready();
    expect(rd.snapshotChunks.map((ch) => ch.offset)).toEqual([0]);
    expect(rd.mustSync).toBe(true);
    expect(rd.snapshot).toBeUndefined();
    expect(rd.messages[0]).toMatchObject({ type: MessageType.SnapshotResponse, snapshotOffset: 3, reject: false });
    rd.snapshotChunks.forEach((ch) => s.writeSnapshotChunk(ch));
    f.advance();
    f.step(chunk(3, "def", true));
    rd = f.ready();
    expect(rd.snapshotChunks.map((ch) => ch.offset)).toEqual([3]);
    expect(rd.snapshot?.index).toBe(10);
    expect(rd.confState?.voters).toEqual(["a", "b", "c", "d"]);
    expect(rd.hardState?.commit).toBe(10);
    expect(rd.messages[0]).toMatchObject({ type: MessageType.AppendResponse, index: 10, reject: false });
    rd.snapshotChunks.forEach((ch) => s.writeSnapshotChunk(ch));
    s.installSnapshot(rd.snapshot!);
    f.advance();
    expect(f.status()).toMatchObject({ commit: 10, applied: 10, lastIndex: 10 });
    expect(f.status().confState.voters).toEqual(["a", "b", "c", "d"]);
  });

  test("a chunk at an unexpected offset is rejected with the offset the follower expects", () => {
    const s = storageWithLog(confState(["a", "b", "c"]), [entry(1, 1)], 2, 1);
    const f = newNode("c", s);
    drain(f, s);
    const meta: SnapshotMeta = { index: 10, term: 2, confState: confState(["a", "b", "c"]), sizeBytes: 6 };
    f.step(msg({ type: MessageType.Snapshot, from: "a", to: "c", term: 2, snapshot: meta, snapshotOffset: 3, snapshotData: bytes("def") }));
    const [reply] = drain(f, s);
    expect(reply).toMatchObject({ type: MessageType.SnapshotResponse, reject: true, snapshotOffset: 0 });
  });

  test("a lost chunk is resent after a timeout and the transfer completes", () => {
    const c = compactedBehindFollower();
    let droppedOne = false;
    c.dropped = (m) => {
      if (!droppedOne && m.type === MessageType.Snapshot && m.snapshotOffset === 4) {
        droppedOne = true;
        return true;
      }
      return false;
    };
    c.tickAll(6);
    expect(droppedOne).toBe(true);
    expect(c.get("c").storage.snapshotImage()).toEqual(IMAGE);
    expect(c.node("a").status().progress?.c?.state).toBe("replicate");
  });

  test("a newer snapshot replacing the one being sent restarts the transfer from offset 0", () => {
    const c = compactedBehindFollower();
    c.heal();
    // Deliver only the first chunk, then the leader takes a newer snapshot.
    c.dropped = (m) => m.type === MessageType.Snapshot && m.snapshotOffset > 0;
    c.tickAll(1);
    const a = c.get("a");
    a.node.propose(bytes("more"));
    c.settle();
    c.tickAll(1);
    const newer = bytes("abcdefgh");
    a.storage.createSnapshot(a.node.status().applied, a.node.status().confState, newer);
    a.storage.compact(a.node.status().applied);
    c.sent = [];
    c.heal();
    c.tickAll(6);
    const first = c.sent.find((m) => m.type === MessageType.Snapshot)!;
    expect(first.snapshotOffset).toBe(0);
    expect(first.snapshot?.index).toBe(a.storage.snapshotMeta().index);
    expect(c.get("c").storage.snapshotImage()).toEqual(newer);
  });

  test("a snapshot older than the follower's commit index is ignored", () => {
    const s = storageWithLog(confState(["a", "b"]), [entry(1, 1), entry(2, 1), entry(3, 1)], 1, 3);
    const f = newNode("b", s);
    drain(f, s);
    const meta: SnapshotMeta = { index: 2, term: 1, confState: confState(["a", "b"]), sizeBytes: 1 };
    f.step(msg({ type: MessageType.Snapshot, from: "a", to: "b", term: 1, snapshot: meta, snapshotData: bytes("x"), snapshotDone: true }));
    const rd = f.ready();
    expect(rd.snapshot).toBeUndefined();
    expect(rd.snapshotChunks).toEqual([]);
    expect(rd.messages[0]).toMatchObject({ type: MessageType.AppendResponse, index: 3 });
    f.advance();
    expect(f.status().lastIndex).toBe(3);
  });

  test("a snapshot whose last entry the follower holds keeps the log after it", () => {
    const s = storageWithLog(confState(["a", "b"]), [1, 1, 1, 1, 1].map((t, i) => entry(i + 1, t)), 1, 1);
    const f = newNode("b", s);
    drain(f, s);
    const meta: SnapshotMeta = { index: 3, term: 1, confState: confState(["a", "b"]), sizeBytes: 1 };
    f.step(msg({ type: MessageType.Snapshot, from: "a", to: "b", term: 1, snapshot: meta, snapshotData: bytes("x"), snapshotDone: true }));
    const rd = f.ready();
    rd.snapshotChunks.forEach((ch) => s.writeSnapshotChunk(ch));
    s.installSnapshot(rd.snapshot!);
    f.advance();
    expect(f.status()).toMatchObject({ lastIndex: 5, commit: 3 });
    expect([s.firstIndex(), s.lastIndex()]).toEqual([4, 5]);
  });

  test("a snapshot that conflicts with the follower's log discards the whole log", () => {
    const s = storageWithLog(confState(["a", "b"]), [1, 1, 1, 1, 1].map((t, i) => entry(i + 1, t)), 2, 1);
    const f = newNode("b", s);
    drain(f, s);
    const meta: SnapshotMeta = { index: 4, term: 2, confState: confState(["a", "b"]), sizeBytes: 1 };
    f.step(msg({ type: MessageType.Snapshot, from: "a", to: "b", term: 2, snapshot: meta, snapshotData: bytes("x"), snapshotDone: true }));
    const rd = f.ready();
    rd.snapshotChunks.forEach((ch) => s.writeSnapshotChunk(ch));
    s.installSnapshot(rd.snapshot!);
    f.advance();
    expect(f.status()).toMatchObject({ lastIndex: 4, commit: 4 });
    expect(s.lastIndex()).toBe(4);
  });
});

describe("InstallSnapshot while a restored snapshot awaits installation", () => {
  test("chunks of a newer image are not staged until the driver has installed the restored one (sim finding F1)", () => {
    const s = storageWithLog(confState(["a", "b", "c"]), [entry(1, 1)], 2, 1);
    const f = newNode("c", s);
    drain(f, s);
    const older: SnapshotMeta = { index: 31, term: 2, confState: confState(["a", "b", "c"]), sizeBytes: 2 };
    const newer: SnapshotMeta = { index: 37, term: 2, confState: confState(["a", "b", "c"]), sizeBytes: 2 };
    const chunk = (meta: SnapshotMeta, offset: number, done: boolean) =>
      msg({ type: MessageType.Snapshot, from: "a", to: "c", term: 2, snapshot: meta, snapshotOffset: offset, snapshotData: bytes("x"), snapshotDone: done });
    f.step(chunk(older, 0, false));
    drain(f, s);
    // In one Ready's window: the older image's last chunk, then the newer image's first.
    f.step(chunk(older, 1, true));
    f.step(chunk(newer, 0, false));
    const rd = f.ready();
    expect(rd.snapshot?.index).toBe(31);
    expect(rd.snapshotChunks.map((ch) => [ch.meta.index, ch.offset])).toEqual([[31, 1]]);
    rd.snapshotChunks.forEach((ch) => s.writeSnapshotChunk(ch));
    s.installSnapshot(rd.snapshot!);
    f.advance();
    // Once installed, the newer image is accepted from offset 0.
    f.step(chunk(newer, 0, false));
    const next = f.ready();
    expect(next.snapshotChunks.map((ch) => [ch.meta.index, ch.offset])).toEqual([[37, 0]]);
    f.advance();
  });

  test("an unacknowledged chunk is resent only after half an election timeout, not every couple of heartbeats", () => {
    const c = compactedBehindFollower();
    c.dropped = (m) => m.type === MessageType.SnapshotResponse; // chunks arrive, acks are lost
    const sendTicks: number[] = [];
    for (let tick = 1; tick <= 12; tick++) {
      c.sent = [];
      c.tickAll(1);
      if (c.sent.some((m) => m.type === MessageType.Snapshot)) sendTicks.push(tick);
    }
    expect(sendTicks.length).toBeGreaterThanOrEqual(2);
    const gaps = sendTicks.slice(1).map((t, i) => t - sendTicks[i]!);
    expect(Math.min(...gaps)).toBe(ELECTION_TICKS / 2);
  });
});
