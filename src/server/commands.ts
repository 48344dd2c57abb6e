// State-machine commands as they travel in raft entries, and their outcomes
// as they travel back to a follower that forwarded the request.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CommandResultSchema,
  CommandSchema,
  CompareCommand_Target,
  type StoredKeyValue,
} from "../gen/dkv/raft/v1/command_pb.ts";
import type { CompareAndSwap, CompareTarget, KeyValue } from "./contract.ts";
import type { ApplyOutcome } from "./apply-outcome.ts";
import { encodeCommand } from "../storage/index.ts";

export function encodePut(key: string, value: Uint8Array): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "put", value: { key, value } } }));
}

export function encodeDelete(key: string): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "delete", value: { key } } }));
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
    ...(previous ? { previous } : {}),
    ...(current ? { current } : {}),
  };
}
