// The three client-facing services as thin translations: validate the
// request, call the node, shape the answer. No policy lives here; errors,
// cancellation and metrics are added around these functions by guard.ts.
import { create } from "@bufbuild/protobuf";
import type { KvNode } from "../server/contract.js";
import {
  CompareAndSwapResponseSchema,
  DeleteResponseSchema,
  GetResponseSchema,
  LeaseGrantResponseSchema,
  LeaseLeasesResponseSchema,
  LeaseKeepAliveResponseSchema,
  LeaseRevokeResponseSchema,
  LeaseTimeToLiveResponseSchema,
  ListResponseSchema,
  SetResponseSchema,
  WatchResponseSchema,
  Event_Type,
  type CompareAndSwapRequest,
  type CompareAndSwapResponse,
  type DeleteRequest,
  type DeleteResponse,
  type GetRequest,
  type GetResponse,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseLeasesRequest,
  type LeaseLeasesResponse,
  type LeaseKeepAliveResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  type ListRequest,
  type ListResponse,
  type SetRequest,
  type SetResponse,
  type WatchRequest,
  type WatchResponse,
  TxnResponseSchema,
  type TxnRequest,
  type TxnResponse,
} from "../gen/dkv/v1/kv_pb.js";
import {
  GetServersResponseSchema,
  JoinServerResponseSchema,
  LeaveServerResponseSchema,
  UpdateServerResponseSchema,
  type GetServersResponse,
  type JoinServerRequest,
  type JoinServerResponse,
  type LeaveServerRequest,
  type LeaveServerResponse,
  type UpdateServerRequest,
  type UpdateServerResponse,
} from "../gen/dkv/v1/membership_pb.js";
import { MoveLeaderResponseSchema, type MoveLeaderRequest, type MoveLeaderResponse, type SnapshotChunk, type SnapshotRequest, type StatusResponse } from "../gen/dkv/v1/maintenance_pb.js";
import { invalidArgument } from "./errors.js";
import {
  compareTargetFromProto,
  consistencyFromProto,
  headerToProto,
  keyValueToProto,
  memberToProto,
  snapshotChunkToProto,
  statusToProto,
  listQueryFromProto,
  txnCompareResultFromProto,
  txnOpFromProto,
  txnOpResultToProto,
  uint64FromProto,
} from "./translate.js";
import type { CancelSignal } from "../server/cancel-signal.js";

/** What a service method needs from its call: only the cancellation signal (a Connect HandlerContext has it). */
export interface CallContext {
  signal: CancelSignal;
  /** The request's Authorization header, on the lean path (connect-es's own context carries all headers). */
  authorization?: string | null;
}

export interface DkvService {
  get(request: GetRequest, context: CallContext): Promise<GetResponse>;
  set(request: SetRequest, context: CallContext): Promise<SetResponse>;
  delete(request: DeleteRequest, context: CallContext): Promise<DeleteResponse>;
  list(request: ListRequest, context: CallContext): Promise<ListResponse>;
  compareAndSwap(request: CompareAndSwapRequest, context: CallContext): Promise<CompareAndSwapResponse>;
  watch(request: WatchRequest, context: CallContext): AsyncIterable<WatchResponse>;
  txn(request: TxnRequest, context: CallContext): Promise<TxnResponse>;
  leaseGrant(request: LeaseGrantRequest, context: CallContext): Promise<LeaseGrantResponse>;
  leaseRevoke(request: LeaseRevokeRequest, context: CallContext): Promise<LeaseRevokeResponse>;
  leaseKeepAlive(request: LeaseKeepAliveRequest, context: CallContext): Promise<LeaseKeepAliveResponse>;
  leaseTimeToLive(request: LeaseTimeToLiveRequest, context: CallContext): Promise<LeaseTimeToLiveResponse>;
  leaseLeases(request: LeaseLeasesRequest, context: CallContext): Promise<LeaseLeasesResponse>;
}

export interface MembershipService {
  getServers(request: unknown, context: CallContext): Promise<GetServersResponse>;
  joinServer(request: JoinServerRequest, context: CallContext): Promise<JoinServerResponse>;
  leaveServer(request: LeaveServerRequest, context: CallContext): Promise<LeaveServerResponse>;
  updateServer(request: UpdateServerRequest, context: CallContext): Promise<UpdateServerResponse>;
}

export interface MaintenanceService {
  status(request: unknown, context: CallContext): Promise<StatusResponse>;
  snapshot(request: SnapshotRequest, context: CallContext): AsyncIterable<SnapshotChunk>;
  moveLeader(request: MoveLeaderRequest, context: CallContext): Promise<MoveLeaderResponse>;
}

function requireNonEmpty(field: string, value: string): void {
  if (value === "") throw invalidArgument(`${field} must not be empty`);
}

function requireLeaseId(id: bigint): number {
  if (id === 0n) throw invalidArgument("id must be set (the lease id from LeaseGrant)");
  return uint64FromProto("id", id);
}

export function createDkvService(node: KvNode): DkvService {
  return {
    async get(request, { signal }) {
      requireNonEmpty("key", request.key);
      const result = await node.get(request.key, consistencyFromProto(request.consistency), signal);
      // A missing key is an answer, not an error: the seed's callers read `value` and `found`.
      return create(GetResponseSchema, {
        found: result.kv !== undefined,
        value: result.kv?.value ?? new Uint8Array(0),
        kv: result.kv === undefined ? undefined : keyValueToProto(result.kv),
        header: headerToProto(result.header),
      });
    },

    async set(request, { signal }) {
      requireNonEmpty("key", request.key);
      const result = await node.put(request.key, request.value, signal, uint64FromProto("lease", request.lease));
      return create(SetResponseSchema, { kv: keyValueToProto(result.kv), header: headerToProto(result.header) });
    },

    async delete(request, { signal }) {
      if (!request.prefix) requireNonEmpty("key", request.key);
      if (request.prefix && request.rangeEnd !== "") throw invalidArgument("give prefix or range_end, not both");
      if (request.rangeEnd !== "" && Buffer.compare(Buffer.from(request.key), Buffer.from(request.rangeEnd)) >= 0) {
        throw invalidArgument(`range_end ${JSON.stringify(request.rangeEnd)} must sort after key ${JSON.stringify(request.key)}`);
      }
      const result = await node.delete(request.key, signal, { prefix: request.prefix, rangeEnd: request.rangeEnd });
      return create(DeleteResponseSchema, { deleted: result.deleted, deletedCount: BigInt(result.deletedCount), header: headerToProto(result.header) });
    },

    async list(request, { signal }) {
      const result = await node.list({ ...listQueryFromProto(request), consistency: consistencyFromProto(request.consistency) }, signal);
      return create(ListResponseSchema, { kvs: result.kvs.map(keyValueToProto), more: result.more, count: BigInt(result.count), header: headerToProto(result.header) });
    },

    async *watch(request, { signal }) {
      if (!request.prefix && request.rangeEnd === "") requireNonEmpty("key", request.key);
      if (request.prefix && request.rangeEnd !== "") throw invalidArgument("give either prefix, or key and range_end; not both");
      const batches = node.watch(
        {
          key: request.key,
          prefix: request.prefix,
          startRevision: uint64FromProto("start_revision", request.startRevision),
          prevKv: request.prevKv,
          rangeEnd: request.rangeEnd,
          noPut: request.noPut,
          noDelete: request.noDelete,
        },
        signal,
      );
      for await (const batch of batches) {
        yield create(WatchResponseSchema, {
          header: headerToProto(batch.header),
          events: batch.events.map((event) => ({
            type: event.type === "put" ? Event_Type.PUT : Event_Type.DELETE,
            kv: keyValueToProto(event.kv),
            prevKv: event.prevKv === undefined ? undefined : keyValueToProto(event.prevKv),
          })),
        });
      }
    },

    async txn(request, { signal }) {
      const result = await node.txn(
        {
          compare: request.compare.map((c, i) => {
            if (c.key === "") throw invalidArgument(`compare[${i}].key must not be empty`);
            return {
              key: c.key,
              target: compareTargetFromProto(c.target),
              result: txnCompareResultFromProto(c.result),
              value: c.value,
              number: uint64FromProto(`compare[${i}].number`, c.number),
            };
          }),
          success: request.success.map((op, i) => txnOpFromProto(op, `success[${i}]`)),
          failure: request.failure.map((op, i) => txnOpFromProto(op, `failure[${i}]`)),
        },
        signal,
      );
      return create(TxnResponseSchema, { succeeded: result.succeeded, results: result.results.map(txnOpResultToProto), header: headerToProto(result.header) });
    },

    async leaseGrant(request, { signal }) {
      if (request.ttlSeconds < 1n) throw invalidArgument(`ttl_seconds must be at least 1, got ${request.ttlSeconds}`);
      const ttl = request.ttlSeconds > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(request.ttlSeconds);
      const result = await node.leaseGrant(ttl, uint64FromProto("id", request.id), signal);
      return create(LeaseGrantResponseSchema, { id: BigInt(result.id), ttlSeconds: BigInt(result.ttlSeconds), header: headerToProto(result.header) });
    },

    async leaseRevoke(request, { signal }) {
      const result = await node.leaseRevoke(requireLeaseId(request.id), signal);
      return create(LeaseRevokeResponseSchema, { deletedKeys: result.deletedKeys, header: headerToProto(result.header) });
    },

    async leaseKeepAlive(request, { signal }) {
      const result = await node.leaseKeepAlive(requireLeaseId(request.id), signal);
      return create(LeaseKeepAliveResponseSchema, { id: BigInt(result.id), ttlSeconds: BigInt(result.ttlSeconds), header: headerToProto(result.header) });
    },

    async leaseLeases(request, { signal }) {
      const result = await node.leaseList(consistencyFromProto(request.consistency), signal);
      return create(LeaseLeasesResponseSchema, {
        leases: result.leases.map((lease) => ({ id: BigInt(lease.id), grantedTtlSeconds: BigInt(lease.ttlSeconds) })),
        header: headerToProto(result.header),
      });
    },

    async leaseTimeToLive(request, { signal }) {
      const result = await node.leaseTimeToLive(requireLeaseId(request.id), request.keys, consistencyFromProto(request.consistency), signal);
      return create(LeaseTimeToLiveResponseSchema, {
        id: BigInt(result.id),
        grantedTtlSeconds: BigInt(result.grantedTtlSeconds),
        remainingSeconds: BigInt(result.remainingSeconds),
        keys: result.keys,
        header: headerToProto(result.header),
      });
    },

    async compareAndSwap(request, { signal }) {
      requireNonEmpty("key", request.key);
      if (request.compare === undefined) throw invalidArgument("compare must be set");
      const compare = request.compare;
      const result = await node.compareAndSwap(
        {
          compare: {
            // An empty compare.key means "the key being written", the common case.
            key: compare.key === "" ? request.key : compare.key,
            target: compareTargetFromProto(compare.target),
            value: compare.value,
            number: uint64FromProto("compare.number", compare.number),
          },
          key: request.key,
          value: request.value,
          delete: request.delete,
          lease: uint64FromProto("lease", request.lease),
        },
        signal,
      );
      return create(CompareAndSwapResponseSchema, {
        succeeded: result.succeeded,
        previous: result.previous === undefined ? undefined : keyValueToProto(result.previous),
        previousFound: result.previous !== undefined,
        header: headerToProto(result.header),
      });
    },
  };
}

export function createMembershipService(node: KvNode): MembershipService {
  return {
    async getServers() {
      const members = await node.members();
      return create(GetServersResponseSchema, { servers: members.map(memberToProto) });
    },

    async joinServer(request, { signal }) {
      requireNonEmpty("id", request.id);
      requireNonEmpty("address", request.address);
      await node.addMember(request.id, request.address, request.rpcAddress, request.learner, signal);
      return create(JoinServerResponseSchema);
    },

    async leaveServer(request, { signal }) {
      requireNonEmpty("id", request.id);
      await node.removeMember(request.id, signal);
      return create(LeaveServerResponseSchema);
    },

    async updateServer(request, { signal }) {
      requireNonEmpty("id", request.id);
      requireNonEmpty("address", request.address);
      await node.updateMember(request.id, request.address, request.rpcAddress, signal);
      return create(UpdateServerResponseSchema);
    },
  };
}

export function createMaintenanceService(node: KvNode): MaintenanceService {
  return {
    async status() {
      return statusToProto(await node.status());
    },

    async *snapshot(request, { signal }) {
      for await (const chunk of node.snapshot(signal, { serializable: request.serializable })) yield snapshotChunkToProto(chunk);
    },

    async moveLeader(request, { signal }) {
      requireNonEmpty("target_id", request.targetId);
      const result = await node.moveLeader(request.targetId, signal);
      return create(MoveLeaderResponseSchema, { leaderId: result.leaderId, raftTerm: BigInt(result.raftTerm) });
    },
  };
}
