import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { compareKeys } from "../../src/storage/key-order";
import { SCHEMA_VERSION } from "../../src/storage/schema";
import { seededRandom } from "./crash-model";
import { create } from "@bufbuild/protobuf";
import { CommandSchema, CompareCommand_Target } from "../../src/gen/dkv/raft/v1/command_pb";
import { type ApplyResult, type Storage, encodeCommand, encodedPending, forgetEncoded, openStorage, prefixEnd } from "../../src/storage";
import { bytes, casData, cleanUpAfterEachTest, deleteData, dumpKv, entry, putData, replayCommitted, tempDir, text, track } from "./helpers";

cleanUpAfterEachTest();

/** A storage whose log already holds (and has committed) whatever we apply. */
class Node {
  readonly storage: Storage;
  private next = 1;
  constructor(dir: string) {
    this.storage = track(openStorage(dir));
    this.next = this.storage.kv.appliedIndex() + 1;
  }
  /** The next index apply() uses (after entries applied by hand). */
  skipTo(next: number): void {
    this.next = next;
  }
  apply(...datas: Uint8Array[]): ApplyResult[] {
    const entries = datas.map((data) => entry(this.next++, 1, data));
    this.storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: this.next - 1 }, snapshotChunks: [] });
    return this.storage.applyCommitted(entries);
  }
}

describe("kv store", () => {
  test("put records etcd-style metadata: revision = raft index, version counts writes", () => {
    const node = new Node(tempDir());
    const [first] = node.apply(putData("a", "1", "client-7", 42n));
    expect(first).toEqual({
      index: 1,
      clientId: "client-7",
      requestId: 42n,
      kind: "put",
      kv: { key: "a", value: bytes("1"), createRevision: 1, modRevision: 1, version: 1, lease: 0 },
    });
    node.apply(putData("b", "x"), putData("a", "2"));
    const a = node.storage.kv.get("a")!;
    expect({ ...a, value: text(a.value) }).toEqual({ key: "a", value: "2", createRevision: 1, modRevision: 3, version: 2, lease: 0 });
    expect(node.storage.kv.revision()).toBe(3);
    expect(node.storage.kv.appliedIndex()).toBe(3);
    expect(node.storage.kv.get("missing")).toBeUndefined();
  });

  test("delete ends a key's life: the next put starts again at version 1", () => {
    const node = new Node(tempDir());
    node.apply(putData("a", "1"), putData("a", "2"));
    const [deleted, again] = node.apply(deleteData("a"), deleteData("a"));
    expect(deleted).toMatchObject({ kind: "delete", deleted: true, index: 3 });
    expect(again).toMatchObject({ kind: "delete", deleted: false, index: 4 });
    expect(node.storage.kv.revision()).toBe(3);
    node.apply(putData("a", "3"));
    expect(node.storage.kv.get("a")).toMatchObject({ createRevision: 5, modRevision: 5, version: 1 });
  });

  test("compare-and-swap compares value, version, mod_revision and create_revision", () => {
    const node = new Node(tempDir());
    node.apply(putData("k", "v1"), putData("k", "v2")); // create 1, mod 2, version 2
    const cas = (target: CompareCommand_Target, compare: { value?: string; number?: number }, value: string) =>
      node.apply(casData({ compareKey: "k", target, compareValue: compare.value, compareNumber: compare.number, key: "k", value }))[0]!;

    expect(cas(CompareCommand_Target.VALUE, { value: "v1" }, "no")).toMatchObject({ kind: "compareAndSwap", succeeded: false });
    const byValue = cas(CompareCommand_Target.VALUE, { value: "v2" }, "v3");
    expect(byValue).toMatchObject({ kind: "compareAndSwap", succeeded: true, previous: { version: 2, modRevision: 2 }, kv: { version: 3, modRevision: 4 } });
    expect(cas(CompareCommand_Target.VERSION, { number: 2 }, "no")).toMatchObject({ succeeded: false });
    expect(cas(CompareCommand_Target.VERSION, { number: 3 }, "v4")).toMatchObject({ succeeded: true });
    expect(cas(CompareCommand_Target.MOD_REVISION, { number: 4 }, "no")).toMatchObject({ succeeded: false });
    expect(cas(CompareCommand_Target.MOD_REVISION, { number: 6 }, "v5")).toMatchObject({ succeeded: true });
    expect(cas(CompareCommand_Target.CREATE_REVISION, { number: 2 }, "no")).toMatchObject({ succeeded: false });
    expect(cas(CompareCommand_Target.CREATE_REVISION, { number: 1 }, "v6")).toMatchObject({ succeeded: true });
    expect(text(node.storage.kv.get("k")!.value)).toBe("v6");
    expect(node.storage.kv.get("k")!.version).toBe(6);
  });

  test("a missing key compares as version/revisions 0 and never equal to any value", () => {
    const node = new Node(tempDir());
    const [byEmptyValue] = node.apply(casData({ compareKey: "new", target: CompareCommand_Target.VALUE, compareValue: "", key: "new", value: "x" }));
    expect(byEmptyValue).toMatchObject({ succeeded: false });
    expect(byEmptyValue).not.toHaveProperty("previous");
    const [createIfAbsent] = node.apply(casData({ compareKey: "new", target: CompareCommand_Target.VERSION, compareNumber: 0, key: "new", value: "x" }));
    expect(createIfAbsent).toMatchObject({ succeeded: true, kv: { version: 1, createRevision: 2 } });
    const [secondCreate] = node.apply(casData({ compareKey: "new", target: CompareCommand_Target.CREATE_REVISION, compareNumber: 0, key: "new", value: "y" }));
    expect(secondCreate).toMatchObject({ succeeded: false, previous: { version: 1 } });
  });

  test("compare-and-swap can delete, and can guard one key by another", () => {
    const node = new Node(tempDir());
    node.apply(putData("lock", "me"), putData("data", "old"));
    const [guarded] = node.apply(casData({ compareKey: "lock", target: CompareCommand_Target.VALUE, compareValue: "me", key: "data", value: "new" }));
    expect(guarded).toMatchObject({ succeeded: true, previous: { key: "data", version: 1 }, kv: { key: "data", version: 2 } });
    const [removed] = node.apply(casData({ compareKey: "data", target: CompareCommand_Target.VERSION, compareNumber: 2, key: "data", delete: true }));
    expect(removed).toMatchObject({ succeeded: true, previous: { key: "data" } });
    expect(node.storage.kv.get("data")).toBeUndefined();
    expect(node.storage.kv.revision()).toBe(4);
  });

  test("empty entries and conf changes only advance the applied index; membership is stored with it", async () => {
    const dir = tempDir();
    const node = new Node(dir);
    const entries = [entry(1, 1), entry(2, 1, bytes("opaque conf change"), 1)];
    const confState = { voters: ["a", "b"], learners: ["c"] };
    // A whole Ready may be handed to persistReady: its confState waits for the apply step.
    const ready = { entries, hardState: { term: 1, vote: "", commit: 2 }, snapshotChunks: [], committedEntries: entries, confState };
    node.storage.persistReady(ready);
    expect(node.storage.log.initialState().confState).toEqual({ voters: [], learners: [] });
    const results = node.storage.applyCommitted(ready.committedEntries, ready.confState);
    expect(results).toEqual([
      { index: 1, kind: "noop" },
      { index: 2, kind: "noop" },
    ]);
    expect(node.storage.kv.count()).toBe(0);
    expect(node.storage.kv.revision()).toBe(0);
    expect(node.storage.kv.confState()).toEqual(confState);
    // The core starts with the membership of the state it starts from: the newest snapshot's.
    await node.storage.createSnapshot();
    node.storage.close();
    const reopened = track(openStorage(dir));
    expect(reopened.kv.appliedIndex()).toBe(2);
    expect(reopened.kv.appliedTerm()).toBe(1);
    expect(reopened.log.initialState().confState).toEqual({ voters: ["a", "b"], learners: ["c"] });
  });

  test("commands every node must refuse alike are answered as invalid and advance the index", () => {
    const node = new Node(tempDir());
    const results = node.apply(bytes("\xff\xff not protobuf"), putData("", "v"), new Uint8Array([0x50, 0x01]));
    expect(results.map((r) => r.kind)).toEqual(["invalid", "invalid", "invalid"]);
    expect(node.storage.kv.appliedIndex()).toBe(3);
    expect(node.storage.kv.count()).toBe(0);
  });

  test("entries must be applied in order, without gaps or repeats", () => {
    const node = new Node(tempDir());
    node.apply(putData("a", "1"));
    expect(() => node.storage.applyCommitted([entry(1, 1, putData("a", "again"))])).toThrow(/apply out of order/);
    expect(() => node.storage.applyCommitted([entry(3, 1, putData("a", "gap"))])).toThrow(/apply out of order/);
    expect(text(node.storage.kv.get("a")!.value)).toBe("1");
  });

  test("the state is in memory: a restart starts from the newest snapshot and replays the committed log after it", async () => {
    const dir = tempDir();
    const node = new Node(dir);
    node.apply(putData("a", "1"), putData("b", "1"), casData({ compareKey: "a", target: CompareCommand_Target.VERSION, compareNumber: 1, key: "a", value: "2" }));
    await node.storage.createSnapshot();
    node.apply(deleteData("b"), putData("b", "3"), putData("c", "1"));
    const before = dumpKv(node.storage);
    node.storage.close();

    const reopened = track(openStorage(dir));
    expect(reopened.kv.appliedIndex()).toBe(3);
    expect(reopened.kv.revision()).toBe(3);
    expect(reopened.kv.get("a")).toMatchObject({ version: 2, modRevision: 3 });
    expect(reopened.kv.get("c")).toBeUndefined();
    expect(replayCommitted(reopened)).toBe(6);
    expect(dumpKv(reopened)).toEqual(before);
    expect(reopened.kv.revision()).toBe(6);
    // The delete ended b's life: the put after it started a new one, also when replayed.
    expect(reopened.kv.get("b")).toMatchObject({ modRevision: 5, createRevision: 5, version: 1 });
  });

  test("a snapshot is taken from a frozen view: writes applied while its image is written are not in it", async () => {
    const dir = tempDir();
    const node = new Node(dir);
    // Enough keys that writing the image yields to the event loop at least once.
    const count = 20_000;
    const entries = Array.from({ length: count }, (_, i) => entry(1 + i, 1, putData(`k${String(i).padStart(5, "0")}`, "v".repeat(200))));
    node.storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: count }, snapshotChunks: [] });
    node.storage.applyCommitted(entries);
    node.skipTo(count + 1);
    const creating = node.storage.createSnapshot();
    let appliedDuring = 0;
    const writer = setInterval(() => {
      node.apply(putData("k00000", "changed"), deleteData("k00001"), putData("late", "x"));
      appliedDuring += 3;
    }, 0);
    const meta = await creating;
    clearInterval(writer);
    expect(meta.index).toBe(count);
    expect(node.storage.lastSnapshotStats!.slices).toBeGreaterThan(1);
    expect(appliedDuring).toBeGreaterThan(0);
    expect(text(node.storage.kv.get("k00000")!.value)).toBe("changed");
    node.storage.close();

    const reopened = track(openStorage(dir));
    expect(reopened.kv.appliedIndex()).toBe(count);
    expect(reopened.kv.count()).toBe(count);
    expect(text(reopened.kv.get("k00000")!.value)).toBe("v".repeat(200));
    expect(reopened.kv.get("k00001")).toBeDefined();
    expect(reopened.kv.get("late")).toBeUndefined();
  });

  test("keys sort by their UTF-8 bytes, as etcd's do, also beyond U+FFFF", () => {
    const random = seededRandom(7);
    const alphabet = ["a", "z", "\u00e9", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\uffff", "\u{10000}", "\u{1F600}", "\u{10FFFF}"];
    const keys = Array.from({ length: 400 }, () => Array.from({ length: 1 + Math.floor(random() * 4) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(""));
    const byBytes = [...new Set(keys)].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const node = new Node(tempDir());
    node.apply(...byBytes.map((key) => putData(key, "v")));
    expect(node.storage.kv.range({}).kvs.map((kv) => kv.key)).toEqual(byBytes);
    expect([...byBytes].reverse().sort(compareKeys)).toEqual(byBytes);
  });

  test("a data dir of schema 1 (keys in the kv table) starts from its table, and the first snapshot empties it", async () => {
    const dir = tempDir();
    const node = new Node(dir);
    node.apply(putData("a", "1"), putData("b", "2"), putData("c", "3"));
    node.storage.close();
    // What a schema-1 binary left: keys written through index 2, and the log through 3.
    const raw = new Database(join(dir, "dkv.db"));
    try {
      raw.exec("UPDATE meta SET value = '1' WHERE key = 'schema_version'");
      const insert = raw.prepare("INSERT INTO kv (key, value, create_revision, mod_revision, version) VALUES (?, ?, ?, ?, 1)");
      insert.run(bytes("a"), bytes("1"), 1, 1);
      insert.run(bytes("b"), bytes("2"), 2, 2);
      raw.exec(`UPDATE applied_state SET applied_index = 2, applied_term = 1, revision = 2 WHERE id = 1`);
    } finally {
      raw.close(true); // finalizes `insert`: a connection left open would hold the lock the node needs
    }
    const reopened = track(openStorage(dir));
    expect(reopened.kv.appliedIndex()).toBe(2);
    expect(dumpKv(reopened).map((kv) => kv.key)).toEqual(["a", "b"]);
    expect(replayCommitted(reopened)).toBe(3);
    expect(text(reopened.kv.get("c")!.value)).toBe("3");
    await reopened.createSnapshot();
    reopened.close();
    const check = new Database(join(dir, "dkv.db"), { readonly: true });
    try {
      expect((check.query("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value).toBe(String(SCHEMA_VERSION));
      expect((check.query("SELECT COUNT(*) AS n FROM kv").get() as { n: number }).n).toBe(0);
    } finally {
      check.close();
    }
    const again = track(openStorage(dir));
    expect(again.kv.appliedIndex()).toBe(3);
    expect(dumpKv(again).map((kv) => kv.key)).toEqual(["a", "b", "c"]);
  });

  test("range scans by prefix and by [start, end), with limit, more and keys-only", () => {
    const node = new Node(tempDir());
    node.apply(...["a", "app/1", "app/2", "app/3", "apq", "b", "\u00e9", "z"].map((k) => putData(k, `v-${k}`)));
    const keys = (r: { kvs: { key: string }[] }) => r.kvs.map((kv) => kv.key);
    expect(keys(node.storage.kv.range({ prefix: "app/" }))).toEqual(["app/1", "app/2", "app/3"]);
    expect(keys(node.storage.kv.range({ prefix: "" }))).toEqual(["a", "app/1", "app/2", "app/3", "apq", "b", "z", "\u00e9"]);
    expect(keys(node.storage.kv.range({ start: "app/2", end: "b" }))).toEqual(["app/2", "app/3", "apq"]);
    expect(keys(node.storage.kv.range({ start: "b" }))).toEqual(["b", "z", "\u00e9"]);
    const page = node.storage.kv.range({ prefix: "app/", limit: 2 });
    expect(keys(page)).toEqual(["app/1", "app/2"]);
    expect(page.more).toBe(true);
    expect(node.storage.kv.range({ prefix: "app/", limit: 3 }).more).toBe(false);
    const keysOnly = node.storage.kv.range({ prefix: "app/", keysOnly: true });
    expect(keysOnly.kvs[0]).toEqual({ key: "app/1", value: new Uint8Array(0), createRevision: 2, modRevision: 2, version: 1, lease: 0 });
    expect(text(node.storage.kv.range({ prefix: "app/" }).kvs[1]!.value)).toBe("v-app/2");
  });

  test("a prefix ending in the highest code point still finds its keys", () => {
    const node = new Node(tempDir());
    const top = "\u{10FFFF}";
    node.apply(putData(`x${top}`, "1"), putData(`x${top}${top}`, "2"), putData("y", "3"));
    expect(node.storage.kv.range({ prefix: `x${top}` }).kvs.map((kv) => kv.key)).toEqual([`x${top}`, `x${top}${top}`]);
    expect(prefixEnd(new Uint8Array([0x61, 0xff, 0xff]))).toEqual(new Uint8Array([0x62]));
    expect(prefixEnd(new Uint8Array([0xff]))).toBeUndefined();
  });

  test("applied index and content survive a reopen (from the snapshot and the log)", async () => {
    const dir = tempDir();
    const node = new Node(dir);
    node.apply(putData("a", "1"), putData("b", "2"));
    await node.storage.createSnapshot();
    node.apply(deleteData("a"), putData("c", new Uint8Array([0, 255, 7])));
    const before = dumpKv(node.storage);
    node.storage.close();
    const reopened = track(openStorage(dir));
    expect(replayCommitted(reopened)).toBe(4);
    expect(reopened.kv.revision()).toBe(4);
    expect(dumpKv(reopened)).toEqual(before);
  });

  test("a command encoded here applies without decoding, with the same result as its bytes decoded", () => {
    const commands = [
      create(CommandSchema, { op: { case: "put", value: { key: "k", value: bytes("v1") } } }),
      create(CommandSchema, { op: { case: "compareAndSwap", value: { compare: { key: "k", target: CompareCommand_Target.VALUE, value: bytes("v1") }, key: "k", value: bytes("v2") } } }),
      create(CommandSchema, { op: { case: "delete", value: { key: "k" } } }),
    ];
    const remembered = new Node(tempDir());
    const decoded = new Node(tempDir());
    for (const command of commands) {
      const data = encodeCommand(command);
      const [viaMemo] = remembered.apply(data);
      const [viaDecode] = decoded.apply(data.slice());
      expect(viaMemo).toEqual(viaDecode!);
    }
    expect(dumpKv(remembered.storage)).toEqual(dumpKv(decoded.storage));
    expect(remembered.storage.kv.revision()).toBe(3);
  });

  test("remembered commands that never apply here (forwarded, or never committed) do not pile up", () => {
    const start = encodedPending();
    const forwarded = encodeCommand(create(CommandSchema, { op: { case: "put", value: { key: "f", value: bytes("x") } } }));
    expect(encodedPending().commands).toBe(start.commands + 1);
    forgetEncoded(forwarded);
    expect(encodedPending()).toEqual(start);

    // Proposals that never commit: 100 values of 1 MiB stay under the 64 MiB bound.
    const value = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 100; i++) encodeCommand(create(CommandSchema, { op: { case: "put", value: { key: `lost${i}`, value } } }));
    expect(encodedPending().bytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(encodedPending().commands).toBeLessThan(64);
  });
});
