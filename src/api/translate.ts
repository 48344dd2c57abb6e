// Conversions between the wire messages (dkv.v1, uint64 = bigint) and the
// node's domain types (plain numbers). Client input that cannot be mapped is
// an invalid_argument that names the field; node output that cannot be mapped
// is a node bug and surfaces as internal.
import { create } from "@bufbuild/protobuf";
import type * as domain from "../server/contract.js";
import {
  Compare_Target,
  Consistency,
  TxnCompare_Result,
  TxnOpResultSchema,
  type KeyValue,
  type ResponseHeader,
  type TxnOp,
  type ListRequest,
  type TxnOpResult,
} from "../gen/dkv/v1/kv_pb.js";
import { ServerSchema, type Server } from "../gen/dkv/v1/membership_pb.js";
import { SnapshotChunkSchema, StatusResponseSchema, type SnapshotChunk, type StatusResponse } from "../gen/dkv/v1/maintenance_pb.js";
import { invalidArgument } from "./errors.js";

export function consistencyFromProto(consistency: Consistency): domain.ReadConsistency {
  switch (consistency) {
    case Consistency.LINEARIZABLE:
      return "linearizable";
    case Consistency.SERIALIZABLE:
      return "serializable";
    default:
      // JSON clients may send any number for an enum.
      throw invalidArgument(`consistency ${String(consistency)} is unknown; use CONSISTENCY_LINEARIZABLE or CONSISTENCY_SERIALIZABLE`);
  }
}

export function compareTargetFromProto(target: Compare_Target): domain.CompareTarget {
  switch (target) {
    case Compare_Target.VALUE:
      return "value";
    case Compare_Target.VERSION:
      return "version";
    case Compare_Target.MOD_REVISION:
      return "mod_revision";
    case Compare_Target.CREATE_REVISION:
      return "create_revision";
    case Compare_Target.LEASE:
      return "lease";
    default:
      throw invalidArgument(`compare.target ${String(target)} is unknown; use TARGET_VALUE, TARGET_VERSION, TARGET_MOD_REVISION, TARGET_CREATE_REVISION or TARGET_LEASE`);
  }
}

export function txnCompareResultFromProto(result: TxnCompare_Result): domain.TxnCompareResult {
  switch (result) {
    case TxnCompare_Result.EQUAL:
      return "equal";
    case TxnCompare_Result.NOT_EQUAL:
      return "not_equal";
    case TxnCompare_Result.GREATER:
      return "greater";
    case TxnCompare_Result.LESS:
      return "less";
    default:
      throw invalidArgument(`compare.result ${String(result)} is unknown; use RESULT_EQUAL, RESULT_NOT_EQUAL, RESULT_GREATER or RESULT_LESS`);
  }
}

export function txnOpFromProto(op: TxnOp, where: string): domain.TxnOp {
  switch (op.op.case) {
    case "put":
      if (op.op.value.key === "") throw invalidArgument(`${where}: put.key must not be empty`);
      return { type: "put", key: op.op.value.key, value: op.op.value.value, lease: uint64FromProto(`${where}: put.lease`, op.op.value.lease) };
    case "delete":
      if (op.op.value.key === "" && !op.op.value.prefix) throw invalidArgument(`${where}: delete.key must not be empty`);
      return { type: "delete", key: op.op.value.key, prefix: op.op.value.prefix, rangeEnd: op.op.value.rangeEnd };
    case "get":
      if (op.op.value.key === "") throw invalidArgument(`${where}: get.key must not be empty`);
      return { type: "get", key: op.op.value.key };
    case "list":
      return { type: "list", ...listQueryFromProto(op.op.value, `${where}: list`) };
    default:
      throw invalidArgument(`${where} has no operation: set put, delete, get or list`);
  }
}

/** The range of a ListRequest (consistency aside), checked. */
export function listQueryFromProto(request: ListRequest, where?: string): Omit<domain.ListQuery, "consistency"> {
  const at = where === undefined ? "" : `${where}: `;
  if (request.rangeEnd !== "" && request.prefix !== "") {
    throw invalidArgument(`${at}give either prefix, or key and range_end; not both`);
  }
  if (request.rangeEnd === "" && request.key !== "") {
    throw invalidArgument(`${at}key is only used with range_end (keys in [key, range_end)); for keys starting with a string use prefix`);
  }
  // Keys sort by their UTF-8 bytes (as etcd's do), which JavaScript's string order differs from past U+FFFF.
  if (request.rangeEnd !== "" && Buffer.compare(Buffer.from(request.key), Buffer.from(request.rangeEnd)) >= 0) {
    throw invalidArgument(`${at}range_end ${JSON.stringify(request.rangeEnd)} must sort after key ${JSON.stringify(request.key)}`);
  }
  return { prefix: request.prefix, key: request.key, rangeEnd: request.rangeEnd, limit: request.limit, keysOnly: request.keysOnly, countOnly: request.countOnly };
}

export function txnOpResultToProto(result: domain.TxnOpResult): TxnOpResult {
  switch (result.type) {
    case "put":
      return create(TxnOpResultSchema, { result: { case: "put", value: { kv: keyValueToProto(result.kv) } } });
    case "delete":
      return create(TxnOpResultSchema, { result: { case: "delete", value: { deleted: result.deleted > 0, deletedCount: BigInt(result.deleted) } } });
    case "get":
      return create(TxnOpResultSchema, {
        result: { case: "get", value: { found: result.kv !== undefined, value: result.kv?.value ?? new Uint8Array(0), kv: result.kv === undefined ? undefined : keyValueToProto(result.kv) } },
      });
    case "list":
      return create(TxnOpResultSchema, { result: { case: "list", value: { kvs: result.kvs.map(keyValueToProto), more: result.more, count: BigInt(result.count) } } });
  }
}

const MAX_SAFE_UINT64 = BigInt(Number.MAX_SAFE_INTEGER);

/** A client-supplied uint64 as a number; the domain uses numbers, so beyond 2^53-1 is refused. */
export function uint64FromProto(field: string, value: bigint): number {
  if (value > MAX_SAFE_UINT64) {
    throw invalidArgument(`${field} ${value} is too large; the largest supported value is ${Number.MAX_SAFE_INTEGER}`);
  }
  return Number(value);
}

/** A node-supplied count or index as a uint64. */
function toUint64(field: string, value: number): bigint {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`node returned ${field} = ${value}, which is not a non-negative integer`);
  }
  return BigInt(value);
}

// The two messages in every answer of a put or get are written as literals with
// every field set - what create() returns for these proto3 messages - because
// create() walks the schema's fields at run time on the hottest path.
export function keyValueToProto(kv: domain.KeyValue): KeyValue {
  return {
    $typeName: "dkv.v1.KeyValue",
    key: kv.key,
    value: kv.value,
    createRevision: toUint64("createRevision", kv.createRevision),
    modRevision: toUint64("modRevision", kv.modRevision),
    version: toUint64("version", kv.version),
    lease: toUint64("lease", kv.lease),
  };
}

export function headerToProto(header: domain.ResponseHeader): ResponseHeader {
  return {
    $typeName: "dkv.v1.ResponseHeader",
    revision: toUint64("header.revision", header.revision),
    memberId: header.memberId,
    raftTerm: toUint64("header.raftTerm", header.raftTerm),
  };
}

export function memberToProto(member: domain.Member): Server {
  return create(ServerSchema, {
    id: member.id,
    raftAddress: member.peerAddress,
    rpcAddress: member.clientAddress,
    isLeader: member.isLeader,
    isLearner: member.isLearner,
  });
}

export function statusToProto(status: domain.NodeStatus): StatusResponse {
  return create(StatusResponseSchema, {
    memberId: status.memberId,
    leaderId: status.leaderId,
    isLeader: status.isLeader,
    raftTerm: toUint64("raftTerm", status.raftTerm),
    commitIndex: toUint64("commitIndex", status.commitIndex),
    appliedIndex: toUint64("appliedIndex", status.appliedIndex),
    dbSizeBytes: toUint64("dbSizeBytes", status.dbSizeBytes),
    version: status.version,
    clusterId: status.clusterId,
    isLearner: status.isLearner,
  });
}

export function snapshotChunkToProto(chunk: { data: Uint8Array; sha256: string; index: number; sizeBytes: number }): SnapshotChunk {
  return create(SnapshotChunkSchema, {
    data: chunk.data,
    sha256: chunk.sha256,
    index: toUint64("snapshot index", chunk.index),
    sizeBytes: toUint64("snapshot sizeBytes", chunk.sizeBytes),
  });
}
