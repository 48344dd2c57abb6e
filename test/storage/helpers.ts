// Shared fixtures for storage tests: temporary data dirs that are always
// removed, and builders for raft entries carrying KV commands.

import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CommandSchema,
  CompareAndSwapCommandSchema,
  CompareCommandSchema,
  type CompareCommand_Target,
  DeleteCommandSchema,
  PutCommandSchema,
} from "../../src/gen/dkv/raft/v1/command_pb";
import type { Entry } from "../../src/raft/types";
import type { Storage } from "../../src/storage";

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

afterEach(() => {
  for (const storage of opened.splice(0)) storage.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const encoder = new TextEncoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

export function entry(index: number, term: number, data: Uint8Array = new Uint8Array(0), type: 0 | 1 = 0): Entry {
  return { index, term, type, data };
}

export function putData(key: string, value: string | Uint8Array, clientId = "c", requestId = 1n): Uint8Array {
  const command = create(CommandSchema, {
    op: { case: "put", value: create(PutCommandSchema, { key, value: typeof value === "string" ? bytes(value) : value }) },
    clientId,
    requestId,
  });
  return toBinary(CommandSchema, command);
}

export function deleteData(key: string): Uint8Array {
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "delete", value: create(DeleteCommandSchema, { key }) } }));
}

export function casData(options: {
  compareKey: string;
  target: CompareCommand_Target;
  compareValue?: string;
  compareNumber?: number;
  key: string;
  value?: string;
  delete?: boolean;
}): Uint8Array {
  const compare = create(CompareCommandSchema, {
    key: options.compareKey,
    target: options.target,
    value: bytes(options.compareValue ?? ""),
    number: BigInt(options.compareNumber ?? 0),
  });
  const cas = create(CompareAndSwapCommandSchema, {
    compare,
    key: options.key,
    value: bytes(options.value ?? ""),
    delete: options.delete ?? false,
  });
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "compareAndSwap", value: cas } }));
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
export function dumpKv(storage: Storage): { key: string; value: number[]; createRevision: number; modRevision: number; version: number }[] {
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
