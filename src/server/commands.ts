// State-machine commands as they travel in raft entries, and their outcomes
// as they travel back to a follower that forwarded the request.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CommandResultSchema,
  CommandSchema,
  CompareCommand_Target,
  type StoredKeyValue,
} from "../gen/dkv/raft/v1/command_pb.ts";
import type { CompareAndSwap, CompareTarget, DeleteRange, KeyValue } from "./contract.ts";
import type { ApplyOutcome } from "./apply-outcome.ts";
import { encodeCommand } from "../storage/index.ts";

export function encodePut(key: string, value: Uint8Array, lease = 0): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "put", value: { key, value, lease: lease === 0 ? 0n : BigInt(lease) } } }));
}

export function encodeLeaseGrant(id: number, ttlSeconds: number): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "leaseGrant", value: { id: BigInt(id), ttlSeconds: BigInt(ttlSeconds) } } }));
}

export function encodeLeaseRevoke(id: number): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "leaseRevoke", value: { id: BigInt(id) } } }));
}

export function encodeLeaseKeepAlive(id: number): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "leaseKeepAlive", value: { id: BigInt(id) } } }));
}

export function encodeDelete(key: string, range: DeleteRange = {}): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "delete", value: { key, prefix: range.prefix ?? false, rangeEnd: range.rangeEnd ?? "" } } }));
}

const TARGETS: Record<CompareTarget, CompareCommand_Target> = {
  value: CompareCommand_Target.VALUE,
  version: CompareCommand_Target.VERSION,
  mod_revision: CompareCommand_Target.MOD_REVISION,
  create_revision: CompareCommand_Target.CREATE_REVISION,
};

export function encodeCompareAndSwap(request: CompareAndSwap): Uint8Array {
  const { compare } = request;
  return encodeCommand(
    create(CommandSchema, {
      op: {
        case: "compareAndSwap",
        value: {
          compare: { key: compare.key, target: TARGETS[compare.target], value: compare.value, number: BigInt(compare.number) },
          key: request.key,
          value: request.value,
          delete: request.delete,
          lease: BigInt(request.lease ?? 0),
        },
      },
    }),
  );
}

function toStored(kv: KeyValue | undefined): StoredKeyValue | undefined {
  if (!kv) return undefined;
  return {
    $typeName: "dkv.raft.v1.StoredKeyValue",
    key: kv.key,
    value: kv.value,
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    lease: BigInt(kv.lease),
  };
}

function fromStored(kv: StoredKeyValue | undefined): KeyValue | undefined {
  if (!kv) return undefined;
  return {
    key: kv.key,
    value: kv.value,
    createRevision: Number(kv.createRevision),
    modRevision: Number(kv.modRevision),
    version: Number(kv.version),
    lease: Number(kv.lease),
  };
}

export function encodeOutcome(outcome: ApplyOutcome): Uint8Array {
  return toBinary(
    CommandResultSchema,
    create(CommandResultSchema, {
      succeeded: outcome.succeeded,
      previous: toStored(outcome.previous),
      current: toStored(outcome.current),
      revision: BigInt(outcome.revision),
      deletedKeys: outcome.deletedKeys ?? 0,
      ttlSeconds: BigInt(outcome.ttlSeconds ?? 0),
    }),
  );
}

export function decodeOutcome(bytes: Uint8Array): ApplyOutcome {
  const result = fromBinary(CommandResultSchema, bytes);
  const previous = fromStored(result.previous);
  const current = fromStored(result.current);
  return {
    succeeded: result.succeeded,
    revision: Number(result.revision),
    ...(result.deletedKeys !== 0 ? { deletedKeys: result.deletedKeys } : {}),
    ...(result.ttlSeconds !== 0n ? { ttlSeconds: Number(result.ttlSeconds) } : {}),
    ...(previous ? { previous } : {}),
    ...(current ? { current } : {}),
  };
}
