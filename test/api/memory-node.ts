// An in-memory KvNode for the API tests: a Map with etcd-like revisions
// (create/mod revision, version), plus knobs to make a method fail, hang, or
// report not-ready, and a record of the signals and consistencies it saw.
import {
  NodeError,
  type CancelSignal,
  type CompareAndSwap,
  type CompareAndSwapResult,
  type DeleteRange,
  type DeleteResult,
  type GetResult,
  type KeyValue,
  type KvNode,
  type LeaseGrantResult,
  type LeaseKeepAliveResult,
  type LeaseRevokeResult,
  type LeaseTimeToLiveResult,
  type ListQuery,
  type ListResult,
  type Member,
  type NodeStatus,
  type PutResult,
  type ReadConsistency,
  type ResponseHeader,
  type TxnCompare,
  type TxnOpResult,
  type TxnRequest,
  type TxnResult,
  type WatchBatch,
  type WatchQuery,
} from "../../src/server/contract.js";
import { WatchHub, streamWatch } from "../../src/server/watch-hub.js";
import type { ApplyResult } from "../../src/storage/index.js";

type MethodName = "get" | "list" | "put" | "delete" | "compareAndSwap" | "members" | "addMember" | "removeMember" | "updateMember" | "status" | "snapshot" | "isReady" | "lease" | "txn";

export class MemoryNode implements KvNode {
  readonly data = new Map<string, KeyValue>();
  /** Lease id -> granted TTL (no clock here: leases end only when revoked). */
  readonly leases = new Map<number, number>();
  private nextLeaseId = 1000;
  revision = 0;
  raftTerm = 7;
  memberId = "n1";
  memberList: Member[] = [{ id: "n1", peerAddress: "127.0.0.1:2380", clientAddress: "127.0.0.1:2379", isLeader: true, isLearner: false }];
  live = true;
  readiness = { ready: true, reason: "" };
  /** The next call of a method throws this (once). */
  readonly failNext = new Map<MethodName, unknown>();
  /** Calls of a method wait for their signal (or forever when ignoreSignal). */
  readonly hang = new Map<MethodName, { ignoreSignal: boolean }>();
  /** Signals and consistencies the node was handed, newest last. */
  readonly signals: (CancelSignal | undefined)[] = [];
  readonly consistencies: ReadConsistency[] = [];
  snapshotChunkBytes = 5;
  /** Set when a snapshot stream was abandoned by its consumer. */
  snapshotReturned = false;
  /** Watches see this node's puts, deletes and compare-and-swaps as a member sees applied entries. */
  readonly watches = new WatchHub(1);
  watchKeepaliveMs = 5000;
  metricsTextValue = "# HELP dkv_node_term Current raft term.\n# TYPE dkv_node_term gauge\ndkv_node_term 7\n";

  async get(key: string, consistency: ReadConsistency, signal?: CancelSignal): Promise<GetResult> {
    await this.enter("get", signal);
    this.consistencies.push(consistency);
    const kv = this.data.get(key);
    return { kv: kv && { ...kv }, header: this.header() };
  }

  async list(query: ListQuery, signal?: CancelSignal): Promise<ListResult> {
    await this.enter("list", signal);
    this.consistencies.push(query.consistency);
    const inRange = (key: string): boolean => (query.rangeEnd === "" ? key.startsWith(query.prefix) : key >= query.key && key < query.rangeEnd);
    const keys = [...this.data.keys()].filter(inRange).sort();
    const limited = query.limit > 0 ? keys.slice(0, query.limit) : keys;
    const kvs = limited.map((key) => {
      const kv = this.data.get(key)!;
      return query.keysOnly ? { ...kv, value: new Uint8Array(0) } : { ...kv };
    });
    if (query.countOnly) return { kvs: [], more: false, count: keys.length, header: this.header() };
    return { kvs, more: limited.length < keys.length, count: 0, header: this.header() };
  }

  async put(key: string, value: Uint8Array, signal?: CancelSignal, lease = 0): Promise<PutResult> {
    await this.enter("put", signal);
    if (lease !== 0 && !this.leases.has(lease)) throw new NodeError("not_found", `lease ${lease} not found`);
    this.revision++;
    const previous = this.data.get(key);
    const kv: KeyValue = {
      key,
      value: value.slice(),
      createRevision: previous?.createRevision ?? this.revision,
      modRevision: this.revision,
      version: (previous?.version ?? 0) + 1,
      lease,
    };
    this.data.set(key, kv);
    this.publish({ index: this.revision, kind: "put", kv, previous });
    return { kv: { ...kv }, header: this.header() };
  }

  async delete(key: string, signal?: CancelSignal, range: DeleteRange = {}): Promise<DeleteResult> {
    await this.enter("delete", signal);
    if (range.prefix || range.rangeEnd) {
      const end = range.rangeEnd ?? "";
      const doomed = [...this.data.keys()].filter((k) => (range.prefix ? k.startsWith(key) : k >= key && k < end)).sort();
      const previous = doomed.map((k) => this.data.get(k)!);
      for (const k of doomed) this.data.delete(k);
      if (doomed.length > 0) this.revision++;
      if (doomed.length > 0) this.publish({ index: this.revision, kind: "deleteRange", deleted: previous });
      return { deleted: doomed.length > 0, deletedCount: doomed.length, header: this.header() };
    }
    const previous = this.data.get(key);
    const deleted = this.data.delete(key);
    if (deleted) this.revision++;
    if (deleted) this.publish({ index: this.revision, kind: "delete", key, deleted, previous });
    return { deleted, deletedCount: deleted ? 1 : 0, header: this.header() };
  }

  async compareAndSwap(request: CompareAndSwap, signal?: CancelSignal): Promise<CompareAndSwapResult> {
    await this.enter("compareAndSwap", signal);
    const compared = this.data.get(request.compare.key);
    const previous = this.data.get(request.key);
    if (!this.matches(compared, request.compare)) return { succeeded: false, previous: previous && { ...previous }, header: this.header() };
    this.revision++;
    if (request.delete) {
      this.data.delete(request.key);
      this.publish({ index: this.revision, kind: "compareAndSwap", succeeded: true, ...(previous ? { previous } : {}) });
    } else {
      const kv: KeyValue = {
        key: request.key,
        value: request.value.slice(),
        createRevision: previous?.createRevision ?? this.revision,
        modRevision: this.revision,
        version: (previous?.version ?? 0) + 1,
        lease: 0,
      };
      this.data.set(request.key, kv);
      this.publish({ index: this.revision, kind: "compareAndSwap", succeeded: true, kv });
    }
    return { succeeded: true, previous: previous && { ...previous }, header: this.header() };
  }

  /** Sequential ops through put/delete (so each write takes its own revision here, unlike a member's one). */
  async txn(request: TxnRequest, signal?: CancelSignal): Promise<TxnResult> {
    await this.enter("txn", signal);
    const holds = (c: TxnCompare): boolean => {
      const kv = this.data.get(c.key);
      if (c.target === "value" && kv === undefined) return false;
      const order = c.target === "value" ? Buffer.compare(kv!.value, c.value) : Math.sign(this.numberOf(kv, c.target) - c.number);
      return c.result === "equal" ? order === 0 : c.result === "not_equal" ? order !== 0 : c.result === "greater" ? order > 0 : order < 0;
    };
    const succeeded = request.compare.every(holds);
    const results: TxnOpResult[] = [];
    for (const op of succeeded ? request.success : request.failure) {
      if (op.type === "put") results.push({ type: "put", kv: (await this.put(op.key, op.value, signal, op.lease)).kv });
      else if (op.type === "delete") results.push({ type: "delete", deleted: (await this.delete(op.key, signal, op)).deletedCount });
      else if (op.type === "list") {
        const { kvs, more, count } = await this.list({ ...op, consistency: "serializable" }, signal);
        results.push({ type: "list", kvs, more, count });
      } else {
        const kv = this.data.get(op.key);
        results.push(kv ? { type: "get", kv: { ...kv } } : { type: "get" });
      }
    }
    return { succeeded, results, header: this.header() };
  }

  private numberOf(kv: KeyValue | undefined, target: TxnCompare["target"]): number {
    if (kv === undefined) return 0;
    return target === "version" ? kv.version : target === "mod_revision" ? kv.modRevision : target === "create_revision" ? kv.createRevision : kv.lease;
  }

  async leaseGrant(ttlSeconds: number, id: number, signal?: CancelSignal): Promise<LeaseGrantResult> {
    await this.enter("lease", signal);
    const chosen = id !== 0 ? id : this.nextLeaseId++;
    if (this.leases.has(chosen)) throw new NodeError("failed_precondition", `lease ${chosen} already exists`);
    this.leases.set(chosen, ttlSeconds);
    this.revision++;
    return { id: chosen, ttlSeconds, header: this.header() };
  }

  async leaseRevoke(id: number, signal?: CancelSignal): Promise<LeaseRevokeResult> {
    await this.enter("lease", signal);
    if (!this.leases.delete(id)) throw new NodeError("not_found", `lease ${id} not found`);
    this.revision++;
    const deleted = [...this.data.values()].filter((kv) => kv.lease === id);
    for (const kv of deleted) this.data.delete(kv.key);
    this.publish({ index: this.revision, kind: "leaseRevoke", id, deleted });
    return { deletedKeys: deleted.length, header: this.header() };
  }

  async leaseKeepAlive(id: number, signal?: CancelSignal): Promise<LeaseKeepAliveResult> {
    await this.enter("lease", signal);
    const ttlSeconds = this.leases.get(id);
    if (ttlSeconds === undefined) throw new NodeError("not_found", `lease ${id} not found`);
    return { id, ttlSeconds, header: this.header() };
  }

  async leaseTimeToLive(id: number, withKeys: boolean, consistency: ReadConsistency, signal?: CancelSignal): Promise<LeaseTimeToLiveResult> {
    await this.enter("lease", signal);
    this.consistencies.push(consistency);
    const ttl = this.leases.get(id);
    if (ttl === undefined) throw new NodeError("not_found", `lease ${id} not found`);
    const keys = withKeys ? [...this.data.values()].filter((kv) => kv.lease === id).map((kv) => kv.key).sort() : [];
    return { id, grantedTtlSeconds: ttl, remainingSeconds: ttl, keys, header: this.header() };
  }

  async leaseList(consistency: ReadConsistency, signal?: CancelSignal): Promise<{ leases: Array<{ id: number; ttlSeconds: number }>; header: ResponseHeader }> {
    await this.enter("lease", signal);
    this.consistencies.push(consistency);
    const leases = [...this.leases].map(([id, ttlSeconds]) => ({ id, ttlSeconds })).sort((a, b) => a.id - b.id);
    return { leases, header: this.header() };
  }

  watch(query: WatchQuery, signal?: CancelSignal): AsyncIterable<WatchBatch> {
    return streamWatch(this.watches, query, {
      applied: this.revision,
      header: (revision) => this.header(revision),
      keepaliveMs: this.watchKeepaliveMs,
      ...(signal ? { signal } : {}),
    });
  }

  private publish(result: Record<string, unknown> & { index: number; kind: string }): void {
    this.watches.publish([{ clientId: "", requestId: 0n, ...result } as ApplyResult]);
  }

  async members(): Promise<Member[]> {
    await this.enter("members", undefined);
    return this.memberList.map((member) => ({ ...member }));
  }

  async addMember(id: string, peerAddress: string, clientAddress: string, learner: boolean, signal?: CancelSignal): Promise<void> {
    await this.enter("addMember", signal);
    this.memberList.push({ id, peerAddress, clientAddress, isLeader: false, isLearner: learner });
  }

  async updateMember(id: string, peerAddress: string, clientAddress: string, signal?: CancelSignal): Promise<void> {
    await this.enter("updateMember", signal);
    const member = this.memberList.find((m) => m.id === id);
    if (!member) throw new NodeError("not_found", `member ${id} is not in the cluster`);
    member.peerAddress = peerAddress;
    if (clientAddress) member.clientAddress = clientAddress;
  }

  async removeMember(id: string, signal?: CancelSignal): Promise<void> {
    await this.enter("removeMember", signal);
    const before = this.memberList.length;
    this.memberList = this.memberList.filter((member) => member.id !== id);
    if (this.memberList.length === before) {
      throw new NodeError("not_found", `member ${id} is not in the cluster`);
    }
  }

  async status(): Promise<NodeStatus> {
    await this.enter("status", undefined);
    return {
      memberId: this.memberId,
      clusterId: "c-test",
      leaderId: this.memberId,
      isLeader: true,
      isLearner: false,
      raftTerm: this.raftTerm,
      commitIndex: this.revision + 2,
      appliedIndex: this.revision + 1,
      dbSizeBytes: 4096,
      version: "0.1.0-test",
    };
  }

  isLive(): boolean {
    return this.live;
  }

  async isReady(signal?: CancelSignal): Promise<{ ready: boolean; reason: string }> {
    await this.enter("isReady", signal);
    return { ...this.readiness };
  }

  async *snapshot(signal?: CancelSignal, _options?: { serializable?: boolean }): AsyncIterable<{ data: Uint8Array; sha256: string; index: number; sizeBytes: number }> {
    await this.enter("snapshot", signal);
    const image = this.image();
    const hasher = new Bun.CryptoHasher("sha256");
    try {
      for (let offset = 0; offset < image.byteLength || offset === 0; offset += this.snapshotChunkBytes) {
        const data = image.subarray(offset, offset + this.snapshotChunkBytes);
        hasher.update(data);
        const last = offset + this.snapshotChunkBytes >= image.byteLength;
        yield { data, sha256: last ? hasher.digest("hex") : "", index: this.revision, sizeBytes: image.byteLength };
        if (last) return;
        // Lets a consumer that goes away be noticed between chunks.
        await Bun.sleep(1);
      }
    } finally {
      this.snapshotReturned = true;
    }
  }

  async moveLeader(targetId: string, signal?: CancelSignal): Promise<{ leaderId: string; raftTerm: number }> {
    await this.enter("members", signal);
    const target = this.memberList.find((m) => m.id === targetId);
    if (target === undefined) throw new NodeError("not_found", `member ${JSON.stringify(targetId)} is not a voting member`);
    for (const m of this.memberList) m.isLeader = m.id === targetId;
    this.raftTerm++;
    return { leaderId: targetId, raftTerm: this.raftTerm };
  }

  metricsText(): string {
    return this.metricsTextValue;
  }

  /** The backup image: the data as JSON lines, stable order. */
  image(): Uint8Array {
    const lines = [...this.data.values()]
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map((kv) => JSON.stringify({ key: kv.key, value: Buffer.from(kv.value).toString("base64"), modRevision: kv.modRevision }));
    return new TextEncoder().encode(lines.join("\n"));
  }

  private header(revision = this.revision): ResponseHeader {
    return { revision, memberId: this.memberId, raftTerm: this.raftTerm };
  }

  private matches(kv: KeyValue | undefined, compare: CompareAndSwap["compare"]): boolean {
    switch (compare.target) {
      case "value":
        return kv !== undefined && Buffer.from(kv.value).equals(Buffer.from(compare.value));
      case "version":
        return (kv?.version ?? 0) === compare.number;
      case "mod_revision":
        return (kv?.modRevision ?? 0) === compare.number;
      case "create_revision":
        return (kv?.createRevision ?? 0) === compare.number;
      case "lease":
        return (kv?.lease ?? 0) === compare.number;
    }
  }

  private async enter(method: MethodName, signal: CancelSignal | undefined): Promise<void> {
    this.signals.push(signal);
    const failure = this.failNext.get(method);
    if (failure !== undefined) {
      this.failNext.delete(method);
      throw failure;
    }
    const hang = this.hang.get(method);
    if (hang === undefined) return;
    await new Promise<void>((_, reject) => {
      if (hang.ignoreSignal || signal === undefined) return; // never settles
      const fail = (): void => reject(Object.assign(new Error("aborted"), { name: "AbortError" }));
      if (signal.aborted) fail();
      else signal.addEventListener("abort", fail, { once: true });
    });
  }
}
