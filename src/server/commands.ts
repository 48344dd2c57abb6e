// State-machine commands as they travel in raft entries, and their outcomes
// as they travel back to a follower that forwarded the request.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type Command,
  CommandResultSchema,
  CommandSchema,
  CompareCommand_Target,
  type StoredKeyValue,
  TxnCompareCommand_Result,
  type TxnOpCommand,
  TxnOpCommandSchema,
  type TxnOpOutcome as TxnOpOutcomeMessage,
  TxnOpOutcomeSchema,
} from "../gen/dkv/raft/v1/command_pb.ts";
import { NodeError, type CompareAndSwap, type CompareTarget, type DeleteRange, type KeyValue, type TxnCompareResult, type TxnOp, type TxnRequest } from "./contract.ts";
import type { TxnOpOutcome } from "../storage/index.ts";
import type { ApplyOutcome } from "./apply-outcome.ts";
import { encodeCommand, encodePutCommand } from "../storage/index.ts";

export function encodePut(key: string, value: Uint8Array, lease = 0): Uint8Array {
  const command: Command = {
    $typeName: "dkv.raft.v1.Command",
    op: { case: "put", value: { $typeName: "dkv.raft.v1.PutCommand", key, value, lease: lease === 0 ? 0n : BigInt(lease) } },
    clientId: "",
    requestId: 0n,
  };
  // Every write but the rare odd key takes the hand-written encoder; the bytes are the same (test/storage/put-command-wire.test.ts).
  const encoded = encodePutCommand(key, value, lease);
  return encoded === undefined ? encodeCommand(command) : encodeCommand(command, encoded);
}

export function encodeLeaseGrant(id: number, ttlSeconds: number): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "leaseGrant", value: { id: BigInt(id), ttlSeconds: BigInt(ttlSeconds) } } }));
}

export function encodeLeaseRevoke(id: number): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "leaseRevoke", value: { id: BigInt(id) } } }));
}

export function encodeDelete(key: string, range: DeleteRange = {}): Uint8Array {
  return encodeCommand(create(CommandSchema, { op: { case: "delete", value: { key, prefix: range.prefix ?? false, rangeEnd: range.rangeEnd ?? "" } } }));
}

const TARGETS: Record<CompareTarget, CompareCommand_Target> = {
  value: CompareCommand_Target.VALUE,
  version: CompareCommand_Target.VERSION,
  mod_revision: CompareCommand_Target.MOD_REVISION,
  create_revision: CompareCommand_Target.CREATE_REVISION,
  lease: CompareCommand_Target.LEASE,
};

const RESULTS: Record<TxnCompareResult, TxnCompareCommand_Result> = {
  equal: TxnCompareCommand_Result.EQUAL,
  not_equal: TxnCompareCommand_Result.NOT_EQUAL,
  greater: TxnCompareCommand_Result.GREATER,
  less: TxnCompareCommand_Result.LESS,
};

function txnOpCommand(op: TxnOp): TxnOpCommand {
  switch (op.type) {
    case "put":
      return create(TxnOpCommandSchema, { op: { case: "put", value: { key: op.key, value: op.value, lease: BigInt(op.lease) } } });
    case "delete":
      return create(TxnOpCommandSchema, { op: { case: "delete", value: { key: op.key, prefix: op.prefix, rangeEnd: op.rangeEnd } } });
    case "get":
      return create(TxnOpCommandSchema, { op: { case: "get", value: op.key } });
    case "list": {
      const prefix = op.rangeEnd === "";
      const value = { key: prefix ? op.prefix : op.key, prefix, rangeEnd: op.rangeEnd, limit: op.limit, keysOnly: op.keysOnly, countOnly: op.countOnly ?? false };
      return create(TxnOpCommandSchema, { op: { case: "range", value } });
    }
  }
}

export function encodeTxn(request: TxnRequest): Uint8Array {
  return encodeCommand(
    create(CommandSchema, {
      op: {
        case: "txn",
        value: {
          compare: request.compare.map((c) => ({ key: c.key, target: TARGETS[c.target], result: RESULTS[c.result], value: c.value, number: BigInt(c.number) })),
          success: request.success.map(txnOpCommand),
          failure: request.failure.map(txnOpCommand),
        },
      },
    }),
  );
}

function toTxnOutcome(result: TxnOpOutcome): TxnOpOutcomeMessage {
  switch (result.type) {
    case "put":
      return create(TxnOpOutcomeSchema, { result: { case: "put", value: toStored(result.kv)! } });
    case "delete":
      return create(TxnOpOutcomeSchema, { result: { case: "deleted", value: BigInt(result.deleted) } });
    case "get":
      return create(TxnOpOutcomeSchema, { result: { case: "get", value: { kv: toStored(result.kv) } } });
    case "list":
      return create(TxnOpOutcomeSchema, { result: { case: "range", value: { kvs: result.kvs.map((kv) => toStored(kv)!), more: result.more, count: BigInt(result.count) } } });
  }
}

function fromTxnOutcome(message: TxnOpOutcomeMessage): TxnOpOutcome {
  const result = message.result;
  switch (result.case) {
    case "put":
      return { type: "put", kv: fromStored(result.value)! };
    case "deleted":
      return { type: "delete", deleted: Number(result.value) };
    case "get": {
      const kv = fromStored(result.value.kv);
      return kv ? { type: "get", kv } : { type: "get" };
    }
    case "range":
      return { type: "list", kvs: result.value.kvs.map((kv) => fromStored(kv)!), more: result.value.more, count: Number(result.value.count) };
    default:
      throw new NodeError("internal", "the leader answered a transaction op this member does not know");
  }
}

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
      txnResults: (outcome.txnResults ?? []).map(toTxnOutcome),
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
    ...(result.txnResults.length > 0 ? { txnResults: result.txnResults.map(fromTxnOutcome) } : {}),
    ...(previous ? { previous } : {}),
    ...(current ? { current } : {}),
  };
}
