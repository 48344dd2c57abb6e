import { describe, expect, test } from "bun:test";
import { CompareCommand_Target } from "../../src/gen/dkv/raft/v1/command_pb";
import { type Storage, openStorage } from "../../src/storage";
import { changesOf } from "../../src/server/watch-hub";
import {
  casData,
  cleanUpAfterEachTest,
  CommittedNode,
  deleteData,
  dumpKv,
  leaseGrantData,
  leaseKeepAliveData,
  leasePutData,
  leaseRevokeData,
  putData,
  replayCommitted,
  tempDir,
  text,
  track,
} from "./helpers";

cleanUpAfterEachTest();

const userKeys = (storage: Storage) => dumpKv(storage).map((kv) => `${kv.key}:${kv.lease}`);

describe("leases in the state machine", () => {
  test("a put with a lease attaches the key; a put without one, a delete or a compare-and-swap detaches it", () => {
    const node = new CommittedNode(tempDir());
    expect(node.one(leaseGrantData(7, 30))).toMatchObject({ kind: "leaseGrant", id: 7, ttlSeconds: 30 });
    node.apply(leasePutData("a", "1", 7), leasePutData("b", "1", 7), leasePutData("c", "1", 7), leasePutData("d", "1", 7));
    expect(node.storage.kv.get("a")).toMatchObject({ lease: 7, version: 1 });
    expect(node.storage.kv.leaseKeys(7)).toEqual(["a", "b", "c", "d"]);

    node.apply(
      putData("a", "2"),
      deleteData("b"),
      casData({ compareKey: "c", target: CompareCommand_Target.VERSION, compareNumber: 1, key: "c", value: "2" }),
    );
    expect(node.storage.kv.get("a")).toMatchObject({ lease: 0, version: 2 });
    expect(node.storage.kv.get("c")).toMatchObject({ lease: 0, version: 2 });
    expect(node.storage.kv.leaseKeys(7)).toEqual(["d"]);

    // Moving a key to another lease leaves the first.
    node.one(leaseGrantData(8, 30));
    node.one(leasePutData("d", "2", 8));
    expect(node.storage.kv.leaseKeys(7)).toEqual([]);
    expect(node.storage.kv.leaseKeys(8)).toEqual(["d"]);
    // The lease's records sort before every client key (the node lists from "\u0001" on).
    expect(node.storage.kv.range({ start: "\u0001" }).kvs.map((kv) => `${kv.key}:${kv.lease}`)).toEqual(["a:0", "c:0", "d:8"]);
  });

  test("a compare-and-swap may write with a lease: a lock taken only if free, gone with its owner's lease", () => {
    const node = new CommittedNode(tempDir());
    node.apply(leaseGrantData(1, 10), leaseGrantData(2, 10));
    const take = (owner: number) => casData({ compareKey: "lock", target: CompareCommand_Target.VERSION, compareNumber: 0, key: "lock", value: `owner-${owner}`, lease: owner });
    expect(node.one(take(1))).toMatchObject({ kind: "compareAndSwap", succeeded: true, kv: { key: "lock", lease: 1 } });
    expect(node.one(take(2))).toMatchObject({ kind: "compareAndSwap", succeeded: false });
    node.one(leaseRevokeData(1));
    expect(node.storage.kv.get("lock")).toBeUndefined();
    expect(node.one(take(2))).toMatchObject({ succeeded: true, kv: { lease: 2 } });
    expect(node.storage.kv.leaseKeys(2)).toEqual(["lock"]);
    // A lease that is gone is refused even when the comparison holds.
    expect(node.one(casData({ compareKey: "other", target: CompareCommand_Target.VERSION, compareNumber: 0, key: "other", value: "x", lease: 1 }))).toMatchObject({
      kind: "refused",
      code: "not_found",
    });
    expect(node.storage.kv.get("other")).toBeUndefined();
  });

  test("a revoke deletes the lease's keys in one revision, and a watcher sees one delete per key", () => {
    const node = new CommittedNode(tempDir());
    node.one(leaseGrantData(5, 10));
    node.apply(leasePutData("app/x", "1", 5), leasePutData("app/y", "1", 5), putData("keep", "1"));
    const result = node.one(leaseRevokeData(5));
    expect(result).toMatchObject({ kind: "leaseRevoke", id: 5 });
    expect(result.kind === "leaseRevoke" && result.deleted.map((kv) => `${kv.key}=${text(kv.value)}`)).toEqual(["app/x=1", "app/y=1"]);
    expect(node.storage.kv.revision()).toBe(result.index);
    expect(userKeys(node.storage)).toEqual(["keep:0"]);
    expect(node.storage.kv.lease(5)).toBeUndefined();
    expect(changesOf([result]).map((kv) => `${kv.key}@${kv.modRevision}/v${kv.version}`)).toEqual([`app/x@${result.index}/v0`, `app/y@${result.index}/v0`]);
  });

  test("unknown leases and taken ids are refused alike on every member, changing nothing", () => {
    const node = new CommittedNode(tempDir());
    expect(node.one(leasePutData("a", "1", 99))).toMatchObject({ kind: "refused", code: "not_found" });
    expect(node.one(leaseKeepAliveData(99))).toMatchObject({ kind: "refused", code: "not_found" });
    expect(node.one(leaseRevokeData(99))).toMatchObject({ kind: "refused", code: "not_found" });
    node.one(leaseGrantData(3, 10));
    const revision = node.storage.kv.revision();
    expect(node.one(leaseGrantData(3, 20))).toMatchObject({ kind: "refused", code: "failed_precondition" });
    expect(node.one(leaseGrantData(4, 0))).toMatchObject({ kind: "invalid" });
    expect(node.one(leaseKeepAliveData(3))).toMatchObject({ kind: "leaseKeepAlive", id: 3, ttlSeconds: 10 });
    expect(node.storage.kv.revision()).toBe(revision);
    expect(node.storage.kv.get("a")).toBeUndefined();
    expect(node.storage.kv.leases()).toEqual([{ id: 3, ttlSeconds: 10 }]);
  });

  test("leases and attachments survive a snapshot and a restart, with the keys' lease ids", async () => {
    const dir = tempDir();
    const node = new CommittedNode(dir);
    node.apply(leaseGrantData(11, 15), leaseGrantData(2 ** 40, 60), leasePutData("a", "1", 11), leasePutData("b", "1", 2 ** 40));
    await node.storage.createSnapshot();
    node.apply(leasePutData("c", "1", 11), leaseRevokeData(2 ** 40));
    const before = dumpKv(node.storage);
    node.storage.close();

    const reopened = track(openStorage(dir));
    // From the image alone: lease ids come back from the attachments.
    expect(reopened.kv.get("a")).toMatchObject({ lease: 11 });
    expect(reopened.kv.get("b")).toMatchObject({ lease: 2 ** 40 });
    replayCommitted(reopened);
    expect(dumpKv(reopened)).toEqual(before);
    expect(reopened.kv.leases()).toEqual([{ id: 11, ttlSeconds: 15 }]);
    expect(reopened.kv.leaseKeys(11)).toEqual(["a", "c"]);
    expect(reopened.kv.get("b")).toBeUndefined();
  });
});
