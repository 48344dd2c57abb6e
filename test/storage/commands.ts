// Builders for raft entries carrying KV commands (no test-runner imports, so
// child processes can use them too).

import { create, toBinary } from "@bufbuild/protobuf";
import {
  CommandSchema,
  CompareAndSwapCommandSchema,
  CompareCommandSchema,
  type CompareCommand_Target,
  DeleteCommandSchema,
  PutCommandSchema,
} from "../../src/gen/dkv/raft/v1/command_pb";
import type { Entry } from "../../src/raft/types";

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
  lease?: number;
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
    lease: BigInt(options.lease ?? 0),
  });
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "compareAndSwap", value: cas } }));
}

export function leasePutData(key: string, value: string, lease: number): Uint8Array {
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "put", value: create(PutCommandSchema, { key, value: bytes(value), lease: BigInt(lease) }) } }));
}

export function leaseGrantData(id: number, ttlSeconds: number): Uint8Array {
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "leaseGrant", value: { id: BigInt(id), ttlSeconds: BigInt(ttlSeconds) } } }));
}

export function leaseRevokeData(id: number): Uint8Array {
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "leaseRevoke", value: { id: BigInt(id) } } }));
}

export function leaseKeepAliveData(id: number): Uint8Array {
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "leaseKeepAlive", value: { id: BigInt(id) } } }));
}

export function deleteRangeData(key: string, range: { prefix?: boolean; rangeEnd?: string }): Uint8Array {
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "delete", value: create(DeleteCommandSchema, { key, prefix: range.prefix ?? false, rangeEnd: range.rangeEnd ?? "" }) } }));
}

export interface TxnSpec {
  compare?: Array<{ key: string; target: number; result?: number; value?: string; number?: number }>;
  success?: Array<{
    put?: [string, string, number?];
    delete?: [string, { prefix?: boolean; rangeEnd?: string }?];
    get?: string;
    list?: { key: string; prefix?: boolean; rangeEnd?: string; limit?: number; keysOnly?: boolean; countOnly?: boolean };
  }>;
  failure?: TxnSpec["success"];
}

/** A transaction command; ops are written [key, value, lease?] for put, [key, range?] for delete, key for get, a range for list. */
export function txnData(spec: TxnSpec): Uint8Array {
  const ops = (list: TxnSpec["success"] = []) =>
    list.map((op) => {
      if (op.put) return { op: { case: "put" as const, value: { key: op.put[0], value: bytes(op.put[1]), lease: BigInt(op.put[2] ?? 0) } } };
      if (op.delete) return { op: { case: "delete" as const, value: { key: op.delete[0], prefix: op.delete[1]?.prefix ?? false, rangeEnd: op.delete[1]?.rangeEnd ?? "" } } };
      if (op.list) {
        const { key, prefix = false, rangeEnd = "", limit = 0, keysOnly = false, countOnly = false } = op.list;
        return { op: { case: "range" as const, value: { key, prefix, rangeEnd, limit, keysOnly, countOnly } } };
      }
      return { op: { case: "get" as const, value: op.get! } };
    });
  const txn = {
    compare: (spec.compare ?? []).map((c) => ({ key: c.key, target: c.target, result: c.result ?? 0, value: bytes(c.value ?? ""), number: BigInt(c.number ?? 0) })),
    success: ops(spec.success),
    failure: ops(spec.failure),
  };
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "txn", value: txn } }));
}
