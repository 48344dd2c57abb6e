// restoreDataDir: a backup image becomes a new member's data dir with the
// backup's keys (same values and revisions), the new membership and cluster
// id; damaged backups and occupied dirs are refused without writing anything.
// The restored dirs are also driven by real raft cores (in-process) to show a
// cluster elects a leader on them and keeps writing.
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type Message, RaftNode, Role } from "../../src/raft";
import { createSeededPrng } from "../../src/server/prng";
import { type RestoreOptions, type Storage, StorageError, openStorage, restoreDataDir } from "../../src/storage";
import { cleanUpAfterEachTest, deleteData, dumpKv, entry, putData, tempDir, text, track } from "./helpers";

cleanUpAfterEachTest();

const MEMBER = "\u0000dkv/member/";
const encoder = new TextEncoder();

/** A node's storage with client keys written over two terms, old member records, and a snapshot image: the backup. */
async function makeBackup(): Promise<{ path: string; source: Storage }> {
  const source = track(openStorage(tempDir(), { clusterId: "old-cluster", memberId: "o1" }));
  const entries = [
    entry(1, 1, putData(`${MEMBER}o1`, JSON.stringify({ peerAddress: "10.0.0.1:2380", clientAddress: "10.0.0.1:2379" }))),
    entry(2, 1, putData("alpha", "1")),
    entry(3, 1, putData("beta", "b")),
    entry(4, 2, putData("alpha", "2")), // version 2, create 2, mod 4
    entry(5, 2, putData("gone", "x")),
    entry(6, 2, deleteData("gone")),
    entry(7, 2, putData("bin", new Uint8Array([0, 255, 7]))),
    entry(8, 2, putData(`${MEMBER}o2`, JSON.stringify({ peerAddress: "10.0.0.2:2380", clientAddress: "" }))),
    entry(9, 2, putData("alpha", "3")),
  ];
  source.persistReady({ entries, hardState: { term: 2, vote: "o1", commit: 9 }, snapshotChunks: [] });
  source.applyCommitted(entries, { voters: ["o1", "o2"], learners: [] });
  const meta = await source.createSnapshot();
  const image = readdirSync(source.paths.snapDir).find((name) => name.endsWith(".snap"))!;
  const path = join(tempDir("dkv-backup"), "backup.db");
  copyFileSync(join(source.paths.snapDir, image), path);
  expect(meta.index).toBe(9);
  return { path, source };
}

function options(memberId: string, voters = ["r0", "r1", "r2"]): RestoreOptions {
  return {
    clusterId: "new-cluster",
    memberId,
    voters,
    dropPrefix: MEMBER,
    records: voters.map((id, i) => ({ key: MEMBER + id, value: encoder.encode(JSON.stringify({ peerAddress: `127.0.0.${i + 1}:2380`, clientAddress: "" })) })),
  };
}

const clientRows = (storage: Storage) => dumpKv(storage).filter((row) => !row.key.startsWith("\u0000"));

describe("restoreDataDir", () => {
  test("the restored dir holds the backup's client keys unchanged, the new members, and starts after the backup's index", async () => {
    const { path, source } = await makeBackup();
    const dir = join(tempDir(), "r0");
    const result = await restoreDataDir(path, dir, options("r0"));
    expect(result.backup).toMatchObject({ index: 9, term: 2, clusterId: "old-cluster" });
    expect(result.keysCopied).toBe(3); // alpha, beta, bin
    expect(result.snapshot).toMatchObject({ index: 10, term: 2, confState: { voters: ["r0", "r1", "r2"], learners: [] } });

    const restored = track(openStorage(dir));
    expect(restored.identity()).toEqual({ clusterId: "new-cluster", memberId: "r0" });
    expect(clientRows(restored)).toEqual(clientRows(source));
    expect(restored.kv.get("alpha")).toMatchObject({ createRevision: 2, modRevision: 9, version: 3 });
    expect(Array.from(restored.kv.get("bin")!.value)).toEqual([0, 255, 7]);
    expect(restored.kv.get("gone")).toBeUndefined();

    // Old member records gone, new ones at the restore's own revision.
    const members = dumpKv(restored).filter((row) => row.key.startsWith(MEMBER));
    expect(members.map((row) => row.key.slice(MEMBER.length))).toEqual(["r0", "r1", "r2"]);
    for (const row of members) expect(row).toMatchObject({ createRevision: 10, modRevision: 10, version: 1 });
    expect(JSON.parse(text(restored.kv.get(`${MEMBER}r1`)!.value))).toEqual({ peerAddress: "127.0.0.2:2380", clientAddress: "" });

    // Raft state: log after 10, commit = applied = 10, term 2, nobody voted for.
    expect(restored.kv.appliedIndex()).toBe(10);
    expect(restored.kv.appliedTerm()).toBe(2);
    expect(restored.kv.revision()).toBe(10);
    expect(restored.kv.confState()).toEqual({ voters: ["r0", "r1", "r2"], learners: [] });
    expect(restored.log.hardState()).toEqual({ term: 2, vote: "", commit: 10 });
    expect(restored.log.firstIndex()).toBe(11);
    expect(restored.log.lastIndex()).toBe(10);
    expect(restored.log.term(10)).toBe(2);
    expect(restored.log.initialState().confState).toEqual({ voters: ["r0", "r1", "r2"], learners: [] });
    expect(restored.snapshots.newestMeta()).toEqual(result.snapshot);
    // No leftovers beside the target.
    expect(readdirSync(dirname(dir))).toEqual(["r0"]);
  });

  test("every member restored from the same backup holds the same state; its snapshot image installs on a newcomer", async () => {
    const { path } = await makeBackup();
    const root = tempDir();
    const stores = [];
    for (const id of ["r0", "r1", "r2"]) {
      await restoreDataDir(path, join(root, id), options(id));
      stores.push(track(openStorage(join(root, id))));
    }
    for (const store of stores.slice(1)) {
      expect(dumpKv(store)).toEqual(dumpKv(stores[0]!));
      expect(store.snapshots.newestMeta()).toEqual(stores[0]!.snapshots.newestMeta());
    }
    // The image is what a leader would send a member added later: it must verify and install.
    const meta = stores[0]!.snapshots.newestMeta();
    const joiner = track(openStorage(join(root, "r3"), { clusterId: "new-cluster" }));
    for (let offset = 0; ; ) {
      const chunk = stores[0]!.log.snapshotChunk(meta, offset, 1024);
      expect(joiner.writeSnapshotChunk({ meta, offset, data: chunk.data, done: chunk.done })).toBe(true);
      offset += chunk.data.byteLength;
      if (chunk.done) break;
    }
    joiner.persistReady({ entries: [], snapshotChunks: [], snapshot: meta }, await joiner.prepareSnapshot([], meta));
    expect(dumpKv(joiner)).toEqual(dumpKv(stores[0]!));
  });

  test("restoring into an existing empty directory works", async () => {
    const { path } = await makeBackup();
    const dir = tempDir();
    await restoreDataDir(path, dir, options("r1"));
    expect(track(openStorage(dir)).identity().memberId).toBe("r1");
  });

  test("three raft cores on restored dirs elect a leader, commit new writes at higher revisions, and agree", async () => {
    const { path } = await makeBackup();
    const root = tempDir();
    const ids = ["r0", "r1", "r2"];
    const stores = new Map<string, Storage>();
    const nodes = new Map<string, RaftNode>();
    for (const [i, id] of ids.entries()) {
      await restoreDataDir(path, join(root, id), options(id));
      const store = track(openStorage(join(root, id)));
      stores.set(id, store);
      nodes.set(id, new RaftNode({ id, storage: store.log, prng: createSeededPrng(i + 1), electionTicks: 10, heartbeatTicks: 1, applied: store.kv.appliedIndex(), preVote: true, checkQuorum: true }));
    }
    const inbox: Message[] = [];
    const drain = () => {
      for (let round = 0; round < 1000; round++) {
        let busy = false;
        for (const [id, node] of nodes) {
          while (node.hasReady()) {
            busy = true;
            const rd = node.ready();
            stores.get(id)!.persistReady(rd);
            inbox.push(...rd.messages);
            stores.get(id)!.applyCommitted(rd.committedEntries, rd.confState);
            node.advance();
          }
        }
        while (inbox.length > 0) {
          busy = true;
          const message = inbox.shift()!;
          nodes.get(message.to)?.step(message);
        }
        if (!busy) return;
      }
      throw new Error("the cluster did not settle");
    };
    let leader: string | undefined;
    for (let tick = 0; tick < 200 && !leader; tick++) {
      for (const node of nodes.values()) node.tick();
      drain();
      leader = ids.find((id) => nodes.get(id)!.status().role === Role.Leader);
    }
    expect(leader).toBeDefined();
    expect(nodes.get(leader!)!.status().term).toBeGreaterThan(2);
    const { index } = nodes.get(leader!)!.propose(putData("after", "restore"));
    expect(index).toBeGreaterThan(10);
    for (let tick = 0; tick < 5; tick++) {
      for (const node of nodes.values()) node.tick();
      drain();
    }
    for (const store of stores.values()) {
      expect(store.kv.get("after")).toMatchObject({ createRevision: index, modRevision: index, version: 1 });
      expect(store.kv.get("alpha")).toMatchObject({ modRevision: 9, version: 3 });
      expect(dumpKv(store)).toEqual(dumpKv(stores.get(leader!)!));
    }
  });
});

describe("restoreDataDir refuses", () => {
  async function refused(backup: string, dir: string, pattern: RegExp): Promise<void> {
    let error: unknown;
    try {
      await restoreDataDir(backup, dir, options("r0"));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StorageError);
    const message = (error as Error).message;
    expect(message).toMatch(pattern);
    expect(message).not.toContain("\n");
  }

  test("a truncated backup, naming the file, and creates nothing", async () => {
    const { path } = await makeBackup();
    truncateSync(path, statSync(path).size - 100);
    const dir = join(tempDir(), "target");
    await refused(path, dir, new RegExp(`${path}.*(damaged or incomplete|seal)`));
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(dirname(dir))).toEqual([]);
  });

  test("a backup with one flipped byte (SHA-256 mismatch)", async () => {
    const { path } = await makeBackup();
    const bytes = readFileSync(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(path, bytes);
    await refused(path, join(tempDir(), "target"), new RegExp(`${path}.*SHA-256 does not match`));
  });

  test("a file that is not a backup, and a missing one", async () => {
    const dir = tempDir();
    const notBackup = join(dir, "notes.txt");
    writeFileSync(notBackup, "hello, not an image".repeat(20));
    await refused(notBackup, join(dir, "t1"), /notes\.txt is not a dkv snapshot image/);
    await refused(join(dir, "missing.db"), join(dir, "t2"), /missing\.db does not exist/);
  });

  test("a dir that holds a dkv database, or anything else; it is left untouched", async () => {
    const { path, source } = await makeBackup();
    const before = dumpKv(source);
    source.close();
    await refused(path, source.paths.dir, /already holds a dkv database/);
    const reopened = track(openStorage(source.paths.dir));
    expect(reopened.identity()).toEqual({ clusterId: "old-cluster", memberId: "o1" });
    expect(dumpKv(reopened)).toEqual(before);

    const other = tempDir();
    mkdirSync(join(other, "stuff"));
    await refused(path, other, /is not empty \(it holds stuff\)/);
    const file = join(other, "plain-file");
    writeFileSync(file, "x");
    await refused(path, file, /exists and is not a directory/);
  });
});
