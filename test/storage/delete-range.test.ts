import { describe, expect, test } from "bun:test";
import { type Storage, openStorage } from "../../src/storage";
import { changesOf } from "../../src/server/watch-hub";
import { cleanUpAfterEachTest, CommittedNode, deleteRangeData, dumpKv, leaseGrantData, leasePutData, putData, replayCommitted, tempDir, track } from "./helpers";

cleanUpAfterEachTest();

const clientKeys = (storage: Storage) => storage.kv.range({ start: "\u0001" }).kvs.map((kv) => kv.key);

describe("range deletes", () => {
  test("a prefix delete takes every key under it in one revision, and a watcher sees each", () => {
    const node = new CommittedNode(tempDir());
    node.apply(putData("app/a", "1"), putData("app/b", "1"), putData("app", "1"), putData("apq", "1"), putData("zz", "1"));
    const [result] = node.apply(deleteRangeData("app/", { prefix: true }));
    expect(result!.kind === "deleteRange" && result!.deleted.map((kv) => kv.key)).toEqual(["app/a", "app/b"]);
    expect(node.storage.kv.revision()).toBe(result!.index);
    expect(clientKeys(node.storage)).toEqual(["app", "apq", "zz"]);
    expect(changesOf([result!]).map((kv) => `${kv.key}@${kv.modRevision}`)).toEqual([`app/a@${result!.index}`, `app/b@${result!.index}`]);
  });

  test("a range [key, end) excludes end; nothing in range changes no revision", () => {
    const node = new CommittedNode(tempDir());
    node.apply(putData("k1", "1"), putData("k2", "1"), putData("k3", "1"));
    const [ranged] = node.apply(deleteRangeData("k1", { rangeEnd: "k3" }));
    expect(ranged!.kind === "deleteRange" && ranged!.deleted.map((kv) => kv.key)).toEqual(["k1", "k2"]);
    expect(clientKeys(node.storage)).toEqual(["k3"]);
    const revision = node.storage.kv.revision();
    const [empty] = node.apply(deleteRangeData("x/", { prefix: true }));
    expect(empty).toMatchObject({ kind: "deleteRange" });
    expect(empty!.kind === "deleteRange" && empty!.deleted).toEqual([]);
    expect(node.storage.kv.revision()).toBe(revision);
  });

  test("deleting every key leaves dkv's own records (members, leases) alone and detaches leased keys; a restart replays it alike", () => {
    const dir = tempDir();
    const node = new CommittedNode(dir);
    node.apply(leaseGrantData(9, 60), leasePutData("held", "1", 9), putData("free", "1"));
    const reservedBefore = node.storage.kv.range({ end: "\u0001" }).kvs.map((kv) => kv.key);
    expect(reservedBefore.length).toBe(2);
    node.apply(deleteRangeData("", { prefix: true }));
    expect(clientKeys(node.storage)).toEqual([]);
    expect(node.storage.kv.leases()).toEqual([{ id: 9, ttlSeconds: 60 }]);
    expect(node.storage.kv.leaseKeys(9)).toEqual([]);
    const after = dumpKv(node.storage);
    node.storage.close();
    const reopened = track(openStorage(dir));
    replayCommitted(reopened);
    expect(dumpKv(reopened)).toEqual(after);
  });
});
