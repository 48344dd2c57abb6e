// Protobuf messages to and from the client's domain types.
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Compare_Target,
  Consistency as ProtoConsistency,
  TxnCompare_Result,
  type KeyValue as ProtoKeyValue,
  type ResponseHeader as ProtoHeader,
  type TxnOpResult as ProtoTxnOpResult,
  type ListRequestSchema,
  type TxnOpSchema,
  type TxnRequestSchema,
} from "../gen/dkv/v1/kv_pb.ts";
import type { StatusResponse } from "../gen/dkv/v1/maintenance_pb.ts";
import type { Server } from "../gen/dkv/v1/membership_pb.ts";
import { DkvClientError } from "./errors.ts";
import type {
  Consistency,
  Expectation,
  KeyValue,
  ListOptions,
  Member,
  NodeStatus,
  ResponseHeader,
  TxnCompareResult,
  TxnCompareTarget,
  TxnOp,
  TxnOpResult,
  TxnRequest,
} from "./types.ts";

const encoder = new TextEncoder();

export function toBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

/** uint64 to number; anything past 2^53 would be a corrupted answer, not a real revision. */
export function toNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`value ${value} is too large for a number`);
  return Number(value);
}

export function toProtoConsistency(consistency: Consistency | undefined): ProtoConsistency {
  return consistency === "serializable" ? ProtoConsistency.SERIALIZABLE : ProtoConsistency.LINEARIZABLE;
}

export function fromHeader(header: ProtoHeader | undefined): ResponseHeader {
  return { revision: toNumber(header?.revision ?? 0n), memberId: header?.memberId ?? "", raftTerm: toNumber(header?.raftTerm ?? 0n) };
}

export function fromKeyValue(kv: ProtoKeyValue): KeyValue {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: toNumber(kv.createRevision),
    modRevision: toNumber(kv.modRevision),
    version: toNumber(kv.version),
    lease: toNumber(kv.lease),
  };
}

export function fromServer(server: Server): Member {
  return { id: server.id, peerAddress: server.raftAddress, clientAddress: server.rpcAddress, isLeader: server.isLeader, isLearner: server.isLearner };
}

export function fromStatus(status: StatusResponse): NodeStatus {
  return {
    memberId: status.memberId,
    clusterId: status.clusterId,
    leaderId: status.leaderId,
    isLeader: status.isLeader,
    isLearner: status.isLearner,
    raftTerm: toNumber(status.raftTerm),
    commitIndex: toNumber(status.commitIndex),
    appliedIndex: toNumber(status.appliedIndex),
    dbSizeBytes: toNumber(status.dbSizeBytes),
    version: status.version,
  };
}

/** The Compare message for an expectation on `key`. */
export function toCompare(key: string, expect: Expectation): { key: string; target: Compare_Target; value: Uint8Array; number: bigint } {
  const base = { key, value: new Uint8Array(), number: 0n };
  if ("value" in expect) return { ...base, target: Compare_Target.VALUE, value: toBytes(expect.value) };
  if ("modRevision" in expect) return { ...base, target: Compare_Target.MOD_REVISION, number: toBigint(expect.modRevision) };
  if ("version" in expect) return { ...base, target: Compare_Target.VERSION, number: toBigint(expect.version) };
  if ("createRevision" in expect) return { ...base, target: Compare_Target.CREATE_REVISION, number: toBigint(expect.createRevision) };
  // "Absent" is a mod revision of 0: the proto's way of saying the key does not exist.
  return { ...base, target: Compare_Target.MOD_REVISION, number: 0n };
}

const TXN_TARGETS: Record<TxnCompareTarget, Compare_Target> = {
  value: Compare_Target.VALUE,
  version: Compare_Target.VERSION,
  mod_revision: Compare_Target.MOD_REVISION,
  create_revision: Compare_Target.CREATE_REVISION,
  lease: Compare_Target.LEASE,
};

const TXN_RESULTS: Record<TxnCompareResult, TxnCompare_Result> = {
  equal: TxnCompare_Result.EQUAL,
  not_equal: TxnCompare_Result.NOT_EQUAL,
  greater: TxnCompare_Result.GREATER,
  less: TxnCompare_Result.LESS,
};

export function toTxnRequest(request: TxnRequest): MessageInitShape<typeof TxnRequestSchema> {
  const op = (o: TxnOp): MessageInitShape<typeof TxnOpSchema> => {
    if ("put" in o) return { op: { case: "put", value: { key: o.put.key, value: toBytes(o.put.value), lease: toBigint(o.put.lease ?? 0) } } };
    if ("delete" in o) return { op: { case: "delete", value: { key: o.delete.key, prefix: o.delete.prefix ?? false, rangeEnd: o.delete.rangeEnd ?? "" } } };
    if ("list" in o) return { op: { case: "list", value: toListRequest(o.list) } };
    return { op: { case: "get", value: { key: o.get.key } } };
  };
  return {
    compare: (request.compare ?? []).map((c) => {
      const target = TXN_TARGETS[c.target];
      const result = TXN_RESULTS[c.result ?? "equal"];
      if (target === undefined) throw new RangeError(`compare target must be value, version, mod_revision, create_revision or lease, not ${JSON.stringify(c.target)}`);
      if (result === undefined) throw new RangeError(`compare result must be equal, not_equal, greater or less, not ${JSON.stringify(c.result)}`);
      return { key: c.key, target, result, value: toBytes(c.value ?? new Uint8Array()), number: toBigint(c.number ?? 0) };
    }),
    success: (request.success ?? []).map(op),
    failure: (request.failure ?? []).map(op),
  };
}

/** The range of a list (consistency aside). */
export function toListRequest(options: Omit<ListOptions, "consistency">): Omit<MessageInitShape<typeof ListRequestSchema>, "consistency" | "$typeName"> {
  return {
    prefix: options.prefix ?? "",
    key: options.key ?? "",
    rangeEnd: options.rangeEnd ?? "",
    limit: options.limit ?? 0,
    keysOnly: options.keysOnly ?? false,
    countOnly: options.countOnly ?? false,
  };
}

export function fromTxnOpResult(result: ProtoTxnOpResult): TxnOpResult {
  switch (result.result.case) {
    case "put":
      return { put: { kv: fromKeyValue(result.result.value.kv!) } };
    case "delete":
      return { delete: { deletedCount: toNumber(result.result.value.deletedCount) } };
    case "get": {
      const kv = result.result.value.kv;
      return { get: kv ? { kv: fromKeyValue(kv) } : {} };
    }
    case "list":
      return { list: { kvs: result.result.value.kvs.map(fromKeyValue), more: result.result.value.more, count: toNumber(result.result.value.count) } };
    default:
      throw new DkvClientError("the server answered a transaction op this client does not know", "internal");
  }
}

function toBigint(value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`revision/version must be a non-negative integer, not ${value}`);
  return BigInt(value);
}
