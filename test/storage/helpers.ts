// Shared fixtures for storage tests: temporary data dirs that are always
// removed, and builders for raft entries carrying KV commands.

import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Entry } from "../../src/raft/types";
import { type ApplyResult, type Storage, openStorage } from "../../src/storage";
import { entry, putData } from "./commands";

export { bytes, casData, deleteData, deleteRangeData, entry, txnData, leaseGrantData, leaseKeepAliveData, leasePutData, leaseRevokeData, putData, text } from "./commands";

const dirs: string[] = [];
const opened: Storage[] = [];

/** A fresh directory removed after the current test (with anything opened on it). */
export function tempDir(label = "dkv-storage"): string {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`));
  dirs.push(dir);
  return dir;
}

/** Registers a storage to close after the test if the test did not. */
export function track<T extends Storage>(storage: T): T {
  opened.push(storage);
  return storage;
}

/**
 * Call at the top of every test file that uses tempDir/track. (A hook
 * registered when this module is first imported would only be attached to the
 * first test file of a multi-file run: the module is cached.)
 */
export function cleanUpAfterEachTest(): void {
  afterEach(() => {
    for (const storage of opened.splice(0)) storage.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
}

/** Entries index..index+count-1 of one term, each a put of `k<index>`. */
export function putEntries(first: number, count: number, term: number, valueBytes = 16): Entry[] {
  const result: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const index = first + i;
    const value = new Uint8Array(valueBytes).fill(index % 251);
    result.push(entry(index, term, putData(`k${index}`, value)));
  }
  return result;
}

/** Every KV row, in key order, for byte-for-byte comparisons. */
/** What the core does at start: apply the committed entries after the starting state. Returns the applied index. */
export function replayCommitted(storage: Storage): number {
  const commit = storage.log.hardState().commit;
  const applied = storage.kv.appliedIndex();
  if (commit > applied) storage.applyCommitted(storage.log.entries(applied + 1, commit + 1, Number.MAX_SAFE_INTEGER));
  return storage.kv.appliedIndex();
}

export function dumpKv(storage: Storage): { key: string; value: number[]; createRevision: number; modRevision: number; version: number; lease: number }[] {
  const rows = [];
  let start = "";
  for (;;) {
    const page = storage.kv.range({ start, limit: 1000 });
    for (const kv of page.kvs) rows.push({ ...kv, value: Array.from(kv.value) });
    if (!page.more) break;
    start = page.kvs[page.kvs.length - 1]!.key + "\0";
  }
  return rows;
}

/** A storage whose log holds (and has committed) whatever apply() is given, from the next index on. */
export class CommittedNode {
  readonly storage: Storage;
  private next: number;
  constructor(dir: string) {
    this.storage = track(openStorage(dir));
    this.next = this.storage.kv.appliedIndex() + 1;
  }
  apply(...datas: Uint8Array[]): ApplyResult[] {
    const entries = datas.map((data) => entry(this.next++, 1, data));
    this.storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: this.next - 1 }, snapshotChunks: [] });
    return this.storage.applyCommitted(entries);
  }
  one(data: Uint8Array): ApplyResult {
    return this.apply(data)[0]!;
  }
}
