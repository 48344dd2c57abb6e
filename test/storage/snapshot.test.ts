import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SnapshotMeta } from "../../src/raft/types";
import { type Storage, SNAPSHOTS_KEPT, openStorage } from "../../src/storage";
import { cleanUpAfterEachTest, deleteData, dumpKv, entry, putData, putEntries, replayCommitted, tempDir, track } from "./helpers";

cleanUpAfterEachTest();

/** Appends, commits and applies entries [first, first + count) as puts of k<index>. */
function write(storage: Storage, first: number, count: number, term = 1, valueBytes = 64): void {
  const entries = putEntries(first, count, term, valueBytes);
  const hard = storage.log.hardState();
  storage.persistReady({ entries, hardState: { term: Math.max(hard.term, term), vote: hard.vote, commit: first + count - 1 }, snapshotChunks: [] });
  storage.applyCommitted(entries);
}

/** Streams the sender's snapshot into the receiver's staging area, chunk by chunk. */
function transfer(sender: Storage, receiver: Storage, meta: SnapshotMeta, chunkBytes: number): number {
  let offset = 0;
  let chunks = 0;
  for (;;) {
    const { data, done } = sender.log.snapshotChunk(meta, offset, chunkBytes);
    expect(receiver.writeSnapshotChunk({ meta, offset, data, done })).toBe(true);
    offset += data.byteLength;
    chunks += 1;
    if (done) return chunks;
  }
}

/** Installs a fully staged snapshot as a running member does: prepare (check and load), then install. */
async function install(storage: Storage, meta: SnapshotMeta): Promise<void> {
  storage.installSnapshot(meta, await storage.prepareSnapshot([], meta));
}

/** A sender holding `keys` small keys and a snapshot of them, and a receiver of the same cluster with an older state. */
async function senderAndReceiver(keys: number, receiverEntries: number) {
  const sender = track(openStorage(tempDir(), { clusterId: "c1" }));
  write(sender, 1, keys, 1, 16);
  const meta = await sender.createSnapshot();
  const receiver = track(openStorage(tempDir(), { clusterId: "c1" }));
  write(receiver, 1, receiverEntries);
  return { sender, meta, receiver, before: dumpKv(receiver) };
}

describe("snapshots", () => {
  test("a snapshot beyond the recorded commit index records its index as committed, so the member reopens", async () => {
    // A member applies committed entries once they are durable on it, which can be before the hard state carrying their commit is written.
    const dir = tempDir();
    const storage = track(openStorage(dir, { clusterId: "c1" }));
    const entries = putEntries(1, 10, 1);
    storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: 4 }, snapshotChunks: [] });
    storage.applyCommitted(entries);
    const meta = await storage.createSnapshot();
    expect(meta.index).toBe(10);
    expect(storage.log.hardState().commit).toBe(10);
    const before = dumpKv(storage);
    storage.close();
    const reopened = track(openStorage(dir, { clusterId: "c1" }));
    expect(reopened.log.hardState()).toEqual({ term: 1, vote: "", commit: 10 });
    expect(reopened.kv.appliedIndex()).toBe(10);
    expect(dumpKv(reopened)).toEqual(before);
  });

  test("round trip: the receiver ends with byte-identical KV content and the same metadata", async () => {
    const sender = track(openStorage(tempDir(), { clusterId: "c1" }));
    write(sender, 1, 300);
    sender.applyCommitted([], { voters: ["a", "b", "c"], learners: ["d"] });
    const last = 301;
    sender.persistReady({ entries: [entry(last, 2, deleteData("k7"))], hardState: { term: 2, vote: "", commit: last }, snapshotChunks: [] });
    sender.applyCommitted([entry(last, 2, deleteData("k7"))]);
    const meta = await sender.createSnapshot();
    expect(meta).toMatchObject({ index: 301, term: 2, confState: { voters: ["a", "b", "c"], learners: ["d"] } });
    expect(meta.sizeBytes).toBe(statSync(join(sender.paths.snapDir, readdirSync(sender.paths.snapDir).find((n) => n.endsWith(".snap"))!)).size);
    expect(sender.log.snapshotMeta()).toEqual(meta);

    const receiver = track(openStorage(tempDir(), { clusterId: "c1" }));
    write(receiver, 1, 5); // some older state that must be replaced
    const chunks = transfer(sender, receiver, meta, 4096);
    expect(chunks).toBe(Math.ceil(meta.sizeBytes / 4096));
    receiver.persistReady({ entries: [], snapshotChunks: [], snapshot: meta }, await receiver.prepareSnapshot([], meta));

    expect(dumpKv(receiver)).toEqual(dumpKv(sender));
    expect(receiver.kv.appliedIndex()).toBe(301);
    expect(receiver.kv.appliedTerm()).toBe(2);
    expect(receiver.kv.revision()).toBe(sender.kv.revision());
    expect(receiver.kv.confState()).toEqual({ voters: ["a", "b", "c"], learners: ["d"] });
    expect(receiver.log.snapshotMeta()).toEqual(meta);
    expect(receiver.log.firstIndex()).toBe(302);
    expect(receiver.log.lastIndex()).toBe(301);
    expect(receiver.log.term(301)).toBe(2);
    expect(receiver.log.hardState().commit).toBe(301);
    // The receiver can pass the same image on, byte for byte.
    const again = receiver.log.snapshotChunk(meta, 0, meta.sizeBytes);
    expect(again.done).toBe(true);
    expect(Buffer.from(again.data).equals(Buffer.from(sender.log.snapshotChunk(meta, 0, meta.sizeBytes).data))).toBe(true);

    const dir = receiver.paths.dir;
    receiver.close();
    const reopened = track(openStorage(dir));
    expect(dumpKv(reopened)).toEqual(dumpKv(sender));
    expect(reopened.log.snapshotMeta()).toEqual(meta);
    expect(readdirSync(reopened.paths.stagingDir)).toEqual([]);
  });

  test("writes go on while a snapshot is created; the image is the state at the moment it began", async () => {
    const storage = track(openStorage(tempDir()));
    for (let first = 1; first <= 20_000; first += 2_000) write(storage, first, 2_000, 1, 16);
    const creating = storage.createSnapshot();
    let appliedDuring = 0;
    let next = 20_001;
    // The creation yields between slices; apply more entries in those gaps.
    while (appliedDuring < 50) {
      await new Promise((resolve) => setImmediate(resolve));
      write(storage, next, 1);
      next += 1;
      appliedDuring += 1;
    }
    const meta = await creating;
    expect(meta.index).toBe(20_000);
    expect(storage.lastSnapshotStats!.slices).toBeGreaterThan(1);

    const receiver = track(openStorage(tempDir()));
    transfer(storage, receiver, meta, 1 << 20);
    await install(receiver, meta);
    expect(receiver.kv.count()).toBe(20_000);
    expect(receiver.kv.get("k20001")).toBeUndefined();
    expect(storage.kv.get("k20001")).toBeDefined();
  });

  test("install keeps the log after the snapshot when it holds the snapshot's entry, and drops a conflicting log", async () => {
    const sender = track(openStorage(tempDir()));
    write(sender, 1, 10, 1);
    const meta = await sender.createSnapshot();

    const matching = track(openStorage(tempDir()));
    // Same entries 1..10 (committed only to 4, applied 3), plus 11..12: the snapshot's entry 10 matches.
    const entries = putEntries(1, 12, 1, 64);
    matching.persistReady({ entries, hardState: { term: 1, vote: "", commit: 4 }, snapshotChunks: [] });
    matching.applyCommitted(entries.slice(0, 3));
    transfer(sender, matching, meta, 1000);
    await install(matching, meta);
    expect([matching.log.firstIndex(), matching.log.lastIndex()]).toEqual([11, 12]);
    expect(matching.log.entries(11, 13, 1 << 20).map((e) => e.index)).toEqual([11, 12]);
    expect(matching.log.hardState().commit).toBe(10);

    const conflicting = track(openStorage(tempDir()));
    conflicting.persistReady({ entries: putEntries(1, 15, 1).map((e) => (e.index >= 6 ? { ...e, term: 1 } : e)), hardState: { term: 1, vote: "", commit: 0 }, snapshotChunks: [] });
    // Rewrite 8.. with a higher term: entry 10 is now term 2, not the snapshot's term 1.
    conflicting.persistReady({ entries: putEntries(8, 8, 2), hardState: { term: 2, vote: "", commit: 0 }, snapshotChunks: [] });
    transfer(sender, conflicting, meta, 1000);
    await install(conflicting, meta);
    expect([conflicting.log.firstIndex(), conflicting.log.lastIndex()]).toEqual([11, 10]);
    expect(conflicting.log.term(10)).toBe(1);
    expect(conflicting.log.hardState()).toEqual({ term: 2, vote: "", commit: 10 });
    expect(dumpKv(conflicting)).toEqual(dumpKv(sender));
  });

  test("a failed install leaves the old state intact: incomplete, damaged, foreign, or failing midway", async () => {
    const sender = track(openStorage(tempDir(), { clusterId: "c1" }));
    write(sender, 1, 50);
    const meta = await sender.createSnapshot();
    const receiver = track(openStorage(tempDir(), { clusterId: "c1" }));
    write(receiver, 1, 3);
    const before = dumpKv(receiver);
    const unchanged = () => {
      expect(dumpKv(receiver)).toEqual(before);
      expect(receiver.kv.appliedIndex()).toBe(3);
      expect(receiver.log.lastIndex()).toBe(3);
      expect(receiver.log.snapshotMeta().index).toBe(0);
    };

    // Incomplete: only the first chunk arrived.
    const first = sender.log.snapshotChunk(meta, 0, 1024);
    receiver.writeSnapshotChunk({ meta, offset: 0, data: first.data, done: false });
    await expect(install(receiver, meta)).rejects.toThrow(/not fully staged/);
    unchanged();

    // Damaged in transit: one flipped byte deep inside a page.
    transfer(sender, receiver, meta, 4096);
    const staged = join(receiver.paths.stagingDir, readdirSync(receiver.paths.stagingDir)[0]!);
    const image = new Uint8Array(await Bun.file(staged).arrayBuffer());
    image[image.length - 2000]! ^= 0xff;
    image[5000]! ^= 0xff;
    writeFileSync(staged, image);
    await expect(install(receiver, meta)).rejects.toThrow(/damaged|not a readable snapshot/);
    unchanged();

    // Announced with other metadata than the image carries.
    transfer(sender, receiver, meta, 4096);
    const lying = { ...meta, confState: { voters: ["intruder"], learners: [] } };
    transfer(sender, receiver, lying, 4096);
    await expect(install(receiver, lying)).rejects.toThrow(/not the announced/);
    unchanged();

    // From another cluster.
    const foreign = track(openStorage(tempDir(), { clusterId: "c2" }));
    write(foreign, 1, 10);
    const foreignMeta = await foreign.createSnapshot();
    transfer(foreign, receiver, foreignMeta, 4096);
    await expect(install(receiver, foreignMeta)).rejects.toThrow(/comes from cluster "c2"/);
    unchanged();

    // A failure inside the install transaction rolls all of it back.
    transfer(sender, receiver, meta, 4096);
    const snapshots = receiver.snapshots as unknown as { recordInTransaction: (...args: unknown[]) => void };
    const real = snapshots.recordInTransaction;
    snapshots.recordInTransaction = () => {
      throw new Error("crash (injected) before commit");
    };
    await expect(install(receiver, meta)).rejects.toThrow(/injected/);
    snapshots.recordInTransaction = real;
    unchanged();
    expect(readdirSync(receiver.paths.snapDir).filter((n) => n.endsWith(".snap"))).toEqual([]);

    // And the real thing still works afterwards.
    transfer(sender, receiver, meta, 4096);
    await install(receiver, meta);
    expect(dumpKv(receiver)).toEqual(dumpKv(sender));
  });

  test("a running member loads the leader's image in slices, changing nothing until persistReady installs it", async () => {
    const { sender, meta, receiver, before } = await senderAndReceiver(3000, 5);
    // All but the last chunk arrive first; the last comes with the Ready that installs.
    const { data: head } = sender.log.snapshotChunk(meta, 0, meta.sizeBytes - 100);
    expect(receiver.writeSnapshotChunk({ meta, offset: 0, data: head, done: false })).toBe(true);
    const tail = sender.log.snapshotChunk(meta, meta.sizeBytes - 100, 100);
    expect(tail.done).toBe(true);
    const lastChunk = { meta, offset: meta.sizeBytes - 100, data: tail.data, done: true };

    let turns = 0;
    let loading = true;
    const spin = (): void => {
      turns += 1;
      if (loading) setImmediate(spin);
    };
    setImmediate(spin);
    // Budget 0: a pause after every slice of rows, whatever this machine's speed.
    const prepared = await receiver.prepareSnapshot([lastChunk], meta, 0);
    loading = false;
    expect(prepared.stats.rows).toBe(3000);
    expect(prepared.stats.slices).toBe(Math.floor(3000 / 256) + 1);
    expect(turns).toBeGreaterThanOrEqual(prepared.stats.slices - 1);
    expect(dumpKv(receiver)).toEqual(before);
    expect(receiver.kv.appliedIndex()).toBe(5);

    receiver.persistReady({ entries: [], snapshotChunks: [lastChunk], snapshot: meta }, prepared);
    expect(dumpKv(receiver)).toEqual(dumpKv(sender));
    expect(receiver.kv.appliedIndex()).toBe(meta.index);
    expect(receiver.log.snapshotMeta()).toEqual(meta);
    expect(readdirSync(receiver.paths.stagingDir)).toEqual([]);
    const dir = receiver.paths.dir;
    receiver.close();
    expect(dumpKv(track(openStorage(dir)))).toEqual(dumpKv(sender));
  });

  test("closing the storage stops a sliced load; the state is as before", async () => {
    const { sender, meta, receiver, before } = await senderAndReceiver(2000, 3);

    transfer(sender, receiver, meta, 4096);
    const loading = receiver.prepareSnapshot([], meta, 0);
    receiver.close();
    await expect(loading).rejects.toThrow(/closed while a snapshot was being installed/);

    const reopened = track(openStorage(receiver.paths.dir));
    expect(reopened.log.snapshotMeta().index).toBe(0);
    replayCommitted(reopened);
    expect(dumpKv(reopened)).toEqual(before);
    expect(reopened.kv.appliedIndex()).toBe(3);
  });

  test("chunks must continue the staged image; offset 0 restarts it; repeats are harmless", async () => {
    const sender = track(openStorage(tempDir()));
    write(sender, 1, 100);
    const meta = await sender.createSnapshot();
    const receiver = track(openStorage(tempDir()));
    const chunk = (offset: number, bytes: number) => ({ meta, offset, ...sender.log.snapshotChunk(meta, offset, bytes) });
    expect(receiver.writeSnapshotChunk(chunk(4096, 4096))).toBe(false); // nothing staged yet
    expect(receiver.writeSnapshotChunk(chunk(0, 4096))).toBe(true);
    expect(receiver.writeSnapshotChunk(chunk(8192, 4096))).toBe(false); // gap
    expect(receiver.writeSnapshotChunk(chunk(4096, 4096))).toBe(true);
    expect(receiver.writeSnapshotChunk(chunk(4096, 4096))).toBe(true); // repeated
    expect(receiver.snapshots.stagedBytes(meta)).toBe(8192);
    let offset = 8192;
    while (offset < meta.sizeBytes) {
      const next = chunk(offset, 3000);
      expect(receiver.writeSnapshotChunk(next)).toBe(true);
      offset += next.data.byteLength;
    }
    expect(() => receiver.writeSnapshotChunk({ meta, offset: meta.sizeBytes - 10, data: new Uint8Array(20), done: true })).toThrow(/exceeds the image size/);
    const result = receiver.persistReady({ entries: [], snapshotChunks: [], snapshot: meta }, await receiver.prepareSnapshot([], meta));
    expect(result.snapshotChunksRejected).toBe(0);
    expect(dumpKv(receiver)).toEqual(dumpKv(sender));
  });

  test("the staged image survives a restart of the receiver and the transfer resumes", async () => {
    const sender = track(openStorage(tempDir()));
    write(sender, 1, 100);
    const meta = await sender.createSnapshot();
    const dir = tempDir();
    const receiver = openStorage(dir);
    const half = sender.log.snapshotChunk(meta, 0, Math.floor(meta.sizeBytes / 2));
    receiver.writeSnapshotChunk({ meta, offset: 0, data: half.data, done: false });
    receiver.close();
    const restarted = track(openStorage(dir));
    expect(restarted.snapshots.stagedBytes(meta)).toBe(half.data.byteLength);
    const rest = sender.log.snapshotChunk(meta, half.data.byteLength, meta.sizeBytes);
    expect(restarted.writeSnapshotChunk({ meta, offset: half.data.byteLength, data: rest.data, done: rest.done })).toBe(true);
    await install(restarted, meta);
    expect(dumpKv(restarted)).toEqual(dumpKv(sender));
  });

  test(`keeps the newest ${SNAPSHOTS_KEPT} snapshots and removes crash debris at open`, async () => {
    const dir = tempDir();
    const storage = track(openStorage(dir));
    const metas: SnapshotMeta[] = [];
    for (let round = 0; round < 4; round++) {
      write(storage, round * 10 + 1, 10);
      metas.push(await storage.createSnapshot());
    }
    expect(await storage.createSnapshot()).toEqual(metas[3]!); // nothing applied since: same snapshot
    const images = () => readdirSync(storage.paths.snapDir).filter((n) => n.endsWith(".snap")).sort();
    expect(images().length).toBe(SNAPSHOTS_KEPT);
    expect(() => storage.log.snapshotChunk(metas[0]!, 0, 10)).toThrow(/no longer kept/);
    expect(storage.log.snapshotChunk(metas[2]!, 0, 10).data.byteLength).toBe(10); // the previous one is still served
    storage.close();
    writeFileSync(join(dir, "snap", "creating-999-1.tmp"), "half an image");
    writeFileSync(join(dir, "snap", "00000000000000000099-00000000000000000001.snap"), "published but never recorded");
    const reopened = track(openStorage(dir));
    expect(readdirSync(reopened.paths.snapDir).sort()).toEqual([...images(), "staging"].sort());
    expect(existsSync(join(dir, "snap", "creating-999-1.tmp"))).toBe(false);
    expect(reopened.log.snapshotMeta()).toEqual(metas[3]!);
  });

  test("a recorded snapshot file that went missing is reported at open", async () => {
    const dir = tempDir();
    const storage = openStorage(dir);
    write(storage, 1, 10);
    await storage.createSnapshot();
    storage.close();
    const name = readdirSync(join(dir, "snap")).find((n) => n.endsWith(".snap"))!;
    writeFileSync(join(dir, "snap", name), "truncated");
    expect(() => openStorage(dir)).toThrow(/is 9 bytes, expected/);
    // The refusal released the lock: a later open is not blocked by it.
    expect(() => openStorage(dir)).toThrow(/is 9 bytes/);
  });

  test("a snapshot needs something applied, and a concurrent request shares the one in progress", async () => {
    const storage = track(openStorage(tempDir()));
    await expect(storage.createSnapshot()).rejects.toThrow(/nothing has been applied/);
    write(storage, 1, 5);
    const [a, b] = await Promise.all([storage.createSnapshot(), storage.createSnapshot()]);
    expect(a).toEqual(b);
    expect(putData("x", "y").byteLength).toBeGreaterThan(0);
  });
});
