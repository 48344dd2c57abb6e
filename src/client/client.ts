// The dkv client: createDkvClient() gives an object with one method per
// operation. Every call goes through the failover loop (failover.ts); this
// file only translates between domain types and protobuf messages and says,
// per operation, whether it may be retried and whether it prefers the leader.
import { parseEndpoint, parseEndpointList, type Endpoint } from "./endpoints.ts";
import { DkvClientError, ServerError } from "./errors.ts";
import { classifyFailure } from "./failure.ts";
import { Failover, withTimeout, type CallPolicy } from "./failover.ts";
import { evaluateHealth } from "./health.ts";
import { EndpointPool } from "./pool.ts";
import { writeVerifiedSnapshot } from "./snapshot.ts";
import { openWatch, toBatch } from "./watch.ts";
import { basicAuthorization, createEndpointClients, type EndpointClients, type TlsMaterial } from "./transport.ts";
import { fromHeader, fromKeyValue, fromServer, fromStatus, fromTxnOpResult, toBytes, toListRequest, toCompare, toNumber, toProtoConsistency, toTxnRequest } from "./convert.ts";
import type {
  CompareAndSwapRequest, CompareAndSwapResult, Consistency, DeleteOptions, DeleteResult, EndpointStatus, GetResult, HealthReport,
  LeaseGrantResult, LeaseKeepAliveResult, LeaseRevokeResult, LeaseTimeToLiveResult, ResponseHeader, TxnRequest, TxnResult,
  ListOptions, ListResult, Member, NodeStatus, PutResult, SnapshotSaveResult, WatchBatch, WatchOptions,
} from "./types.ts";

export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
export const DEFAULT_DIAL_TIMEOUT_MS = 2000;
export const DEFAULT_SNAPSHOT_TIMEOUT_MS = 10 * 60 * 1000;
/** Answers that end a watch; anything else (a member gone, a connection cut) reopens it elsewhere. */
const WATCH_REFUSALS = new Set(["invalid_argument", "failed_precondition", "out_of_range", "permission_denied", "unauthenticated", "unimplemented"]);
/** Streams broken before any message came through: past this many, the watch gives up. */
const MAX_WATCH_BREAKS_IN_A_ROW = 5;

export interface DkvClientOptions {
  /** "host:port" (or http(s)://host:port), as an array or comma-separated. */
  endpoints: string | readonly string[];
  /** PEM text of the CA that signed the servers' certificates; turns on https. */
  cacert?: string;
  /** PEM text of the client certificate and key, for mutual TLS. */
  cert?: string;
  key?: string;
  /** Name the server certificate must carry, when it differs from the endpoint host. */
  serverName?: string;
  /** Overall deadline for one call, retries included. */
  commandTimeoutMs?: number;
  /** Longest wait for a TCP connection to one endpoint. */
  dialTimeoutMs?: number;
  /** Longest wait for one try of a retryable call before another endpoint is tried. */
  attemptTimeoutMs?: number;
  /** A user of the members' --auth-file, with its password (sent as HTTP Basic authentication). */
  user?: string;
  password?: string;
}

export function createDkvClient(options: DkvClientOptions): DkvClient {
  return new DkvClient(options);
}

export class DkvClient {
  private readonly pool: EndpointPool;
  private readonly failover: Failover;
  private readonly clients = new Map<string, EndpointClients>();
  private readonly tls: TlsMaterial | undefined;
  private readonly secure: boolean;
  private readonly authorization: string | undefined;
  readonly commandTimeoutMs: number;

  constructor(options: DkvClientOptions) {
    if ((options.cert === undefined) !== (options.key === undefined)) {
      throw new DkvClientError("a client certificate and its key go together: give both cert and key, or neither", "invalid_options");
    }
    if ((options.user === undefined) !== (options.password === undefined)) {
      throw new DkvClientError("a user and its password go together: give both, or neither", "invalid_options");
    }
    if (options.user !== undefined && (options.user === "" || options.user.includes(":"))) {
      throw new DkvClientError(`user name "${options.user}" must be non-empty and without ":"`, "invalid_options");
    }
    this.authorization = options.user === undefined ? undefined : basicAuthorization(options.user, options.password!);
    this.commandTimeoutMs = positive(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, "commandTimeoutMs");
    const dialTimeoutMs = positive(options.dialTimeoutMs ?? Math.min(DEFAULT_DIAL_TIMEOUT_MS, this.commandTimeoutMs), "dialTimeoutMs");
    // Half the deadline per try: one hung endpoint still leaves time for another.
    const attemptTimeoutMs = positive(options.attemptTimeoutMs ?? Math.max(dialTimeoutMs, Math.floor(this.commandTimeoutMs / 2)), "attemptTimeoutMs");
    this.secure = options.cacert !== undefined || options.cert !== undefined;
    this.tls = this.secure ? { ca: options.cacert, cert: options.cert, key: options.key, serverName: options.serverName } : undefined;
    this.pool = new EndpointPool(parseEndpointList(options.endpoints, this.secure), this.secure);
    this.failover = new Failover(this.pool, (e) => this.clientsFor(e), { commandTimeoutMs: this.commandTimeoutMs, dialTimeoutMs, attemptTimeoutMs });
  }

  /** Every endpoint the client knows: the ones given, then the ones the cluster advertised. */
  get endpoints(): string[] {
    return this.pool.all().map((e) => e.address);
  }

  /** The leader's member id, when a member list named one. */
  get leaderId(): string | undefined {
    return this.pool.leaderId;
  }

  async get(key: string, options: { consistency?: Consistency } = {}): Promise<GetResult> {
    const consistency = options.consistency ?? "linearizable";
    const response = await this.run({ operation: `get "${key}"`, idempotent: true, preferLeader: consistency === "linearizable" }, (c, signal) =>
      c.kv.get({ key, consistency: toProtoConsistency(consistency) }, { signal }),
    );
    const header = fromHeader(response.header);
    if (!response.found) return { header };
    // A server that only fills the seed's `value` field still gives a usable answer.
    const kv = response.kv ? fromKeyValue(response.kv) : { key, value: response.value, createRevision: 0, modRevision: 0, version: 0, lease: 0 };
    return { kv, header };
  }

  /** The value as UTF-8 text, or undefined when the key does not exist. */
  async getText(key: string, options: { consistency?: Consistency } = {}): Promise<string | undefined> {
    const { kv } = await this.get(key, options);
    return kv === undefined ? undefined : new TextDecoder().decode(kv.value);
  }

  /** `lease`: attach the key to a lease from leaseGrant (it is deleted when the lease ends); absent or 0 detaches it. */
  async put(key: string, value: string | Uint8Array, options: { lease?: number } = {}): Promise<PutResult> {
    const lease = BigInt(options.lease ?? 0);
    const response = await this.run({ operation: `put "${key}"`, idempotent: true, preferLeader: true }, (c, signal) =>
      c.kv.set({ key, value: toBytes(value), lease }, { signal }),
    );
    const header = fromHeader(response.header);
    return response.kv ? { kv: fromKeyValue(response.kv), header } : { header };
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const request = { key, prefix: options.prefix ?? false, rangeEnd: options.rangeEnd ?? "" };
    const what = request.prefix ? `keys starting with "${key}"` : request.rangeEnd ? `["${key}", "${request.rangeEnd}")` : `"${key}"`;
    const response = await this.run({ operation: `delete ${what}`, idempotent: true, preferLeader: true }, (c, signal) => c.kv.delete(request, { signal }));
    // A server from before range deletes leaves deleted_count unset.
    const deletedCount = response.deletedCount > 0n ? toNumber(response.deletedCount) : response.deleted ? 1 : 0;
    return { deleted: response.deleted, deletedCount, header: fromHeader(response.header) };
  }

  async list(options: ListOptions = {}): Promise<ListResult> {
    const consistency = options.consistency ?? "linearizable";
    const request = { ...toListRequest(options), consistency: toProtoConsistency(consistency) };
    const what = request.rangeEnd ? `["${request.key}", "${request.rangeEnd}")` : `prefix "${request.prefix}"`;
    const response = await this.run({ operation: `list ${what}`, idempotent: true, preferLeader: consistency === "linearizable" }, (c, signal) =>
      c.kv.list(request, { signal }),
    );
    return { kvs: response.kvs.map(fromKeyValue), more: response.more, count: toNumber(response.count), header: fromHeader(response.header) };
  }

  /**
   * A transaction: if every comparison holds, the success ops run, else the
   * failure ops; atomically, all writes in one revision. Never retried once
   * it may have reached a server (a lost answer is an OutcomeUnknownError).
   */
  async txn(request: TxnRequest): Promise<TxnResult> {
    const message = toTxnRequest(request);
    const response = await this.run({ operation: "transaction", idempotent: false, preferLeader: true }, (c, signal) => c.kv.txn(message, { signal }));
    return { succeeded: response.succeeded, results: response.results.map(fromTxnOpResult), header: fromHeader(response.header) };
  }

  /**
   * A lease that ends ttlSeconds after the leader last heard a keep-alive for
   * it, deleting the keys attached to it. Not retried once it may have
   * reached a server (a lost answer is an OutcomeUnknownError): a lease that
   * was granted but never heard of ends by itself.
   */
  async leaseGrant(ttlSeconds: number, options: { id?: number } = {}): Promise<LeaseGrantResult> {
    const response = await this.run({ operation: `grant a lease of ${ttlSeconds} s`, idempotent: false, preferLeader: true }, (c, signal) =>
      c.kv.leaseGrant({ ttlSeconds: BigInt(ttlSeconds), id: BigInt(options.id ?? 0) }, { signal }),
    );
    return { id: toNumber(response.id), ttlSeconds: toNumber(response.ttlSeconds), header: fromHeader(response.header) };
  }

  /** Restarts the lease's TTL; ServerError not_found once it has ended. Send one every third of the TTL. */
  async leaseKeepAlive(id: number): Promise<LeaseKeepAliveResult> {
    const response = await this.run({ operation: `keep lease ${id} alive`, idempotent: true, preferLeader: true }, (c, signal) =>
      c.kv.leaseKeepAlive({ id: BigInt(id) }, { signal }),
    );
    return { id: toNumber(response.id), ttlSeconds: toNumber(response.ttlSeconds), header: fromHeader(response.header) };
  }

  /** Ends the lease now and deletes its keys; ServerError not_found if it has ended already. */
  async leaseRevoke(id: number): Promise<LeaseRevokeResult> {
    const response = await this.run({ operation: `revoke lease ${id}`, idempotent: false, preferLeader: true }, (c, signal) =>
      c.kv.leaseRevoke({ id: BigInt(id) }, { signal }),
    );
    return { deletedKeys: response.deletedKeys, header: fromHeader(response.header) };
  }

  /** Every lease with its granted TTL, by id. */
  async leaseList(options: { consistency?: Consistency } = {}): Promise<{ leases: Array<{ id: number; grantedTtlSeconds: number }>; header: ResponseHeader }> {
    const consistency = options.consistency ?? "linearizable";
    const response = await this.run({ operation: "list leases", idempotent: true, preferLeader: consistency === "linearizable" }, (c, signal) =>
      c.kv.leaseLeases({ consistency: toProtoConsistency(consistency) }, { signal }),
    );
    return { leases: response.leases.map((l) => ({ id: toNumber(l.id), grantedTtlSeconds: Number(l.grantedTtlSeconds) })), header: fromHeader(response.header) };
  }

  /** The lease's granted TTL, the seconds it has left (asked of the leader, which alone times leases) and, with keys, its keys. */
  async leaseTimeToLive(id: number, options: { keys?: boolean } = {}): Promise<LeaseTimeToLiveResult> {
    const response = await this.run({ operation: `time to live of lease ${id}`, idempotent: true, preferLeader: true }, (c, signal) =>
      c.kv.leaseTimeToLive({ id: BigInt(id), keys: options.keys ?? false }, { signal }),
    );
    return {
      id: toNumber(response.id),
      grantedTtlSeconds: toNumber(response.grantedTtlSeconds),
      remainingSeconds: Number(response.remainingSeconds),
      keys: response.keys,
      header: fromHeader(response.header),
    };
  }

  /** Never retried once it may have reached a server: a lost answer is an OutcomeUnknownError. */
  async compareAndSwap(request: CompareAndSwapRequest): Promise<CompareAndSwapResult> {
    const message = {
      compare: toCompare(request.compareKey ?? request.key, request.expect),
      key: request.key,
      value: request.delete ? new Uint8Array() : toBytes(request.value ?? new Uint8Array()),
      delete: request.delete ?? false,
      lease: BigInt(request.lease ?? 0),
    };
    const response = await this.run({ operation: `compare-and-swap "${request.key}"`, idempotent: false, preferLeader: true }, (c, signal) =>
      c.kv.compareAndSwap(message, { signal }),
    );
    const header = fromHeader(response.header);
    if (response.previousFound && response.previous) return { succeeded: response.succeeded, previous: fromKeyValue(response.previous), header };
    return { succeeded: response.succeeded, header };
  }

  async members(options: { deadlineMs?: number } = {}): Promise<Member[]> {
    const policy: CallPolicy = { operation: "member list", idempotent: true, preferLeader: false, ...options };
    const response = await this.run(policy, (c, signal) => c.membership.getServers({}, { signal }));
    const members = response.servers.map(fromServer);
    this.pool.learn(members, performance.now());
    return members;
  }

  /** A membership change: not retried once it may have reached a server (a second add would fail or, worse, succeed). */
  async addMember(id: string, peerAddress: string, options: { learner?: boolean; clientAddress?: string } = {}): Promise<void> {
    const request = { id, address: peerAddress, rpcAddress: options.clientAddress ?? "", learner: options.learner ?? false };
    await this.run({ operation: `add member "${id}"`, idempotent: false, preferLeader: true }, (c, signal) => c.membership.joinServer(request, { signal }));
  }

  async removeMember(id: string): Promise<void> {
    await this.run({ operation: `remove member "${id}"`, idempotent: false, preferLeader: true }, (c, signal) => c.membership.leaveServer({ id }, { signal }));
  }

  /** New addresses for member `id` (etcdctl member update); the same bytes twice change nothing, so it may be retried. */
  async updateMember(id: string, peerAddress: string, options: { clientAddress?: string } = {}): Promise<void> {
    const request = { id, address: peerAddress, rpcAddress: options.clientAddress ?? "" };
    await this.run({ operation: `update member "${id}"`, idempotent: true, preferLeader: true }, (c, signal) => c.membership.updateServer(request, { signal }));
  }

  /** Hands leadership to voter `id` (etcdctl move-leader); resolves once it leads. */
  async moveLeader(id: string): Promise<{ leaderId: string; raftTerm: number }> {
    const response = await this.run({ operation: `move leadership to "${id}"`, idempotent: true, preferLeader: true }, (c, signal) =>
      c.maintenance.moveLeader({ targetId: id }, { signal }),
    );
    return { leaderId: response.leaderId, raftTerm: toNumber(response.raftTerm) };
  }

  /** Status of one endpoint, asked directly (no failover: the point is to hear from that node). */
  async status(endpoint: string, timeoutMs = this.commandTimeoutMs): Promise<NodeStatus> {
    const parsed = parseEndpoint(endpoint, this.secure);
    try {
      return await this.askStatus(parsed, timeoutMs);
    } catch (error) {
      const failure = classifyFailure(error);
      throw new DkvClientError(`${parsed.address}: ${failure.message}`, failure.code);
    }
  }

  /** Status of every known endpoint (given and advertised), each answer or error on its own. */
  async statusAll(): Promise<EndpointStatus[]> {
    const deadlineMs = performance.now() + this.commandTimeoutMs;
    // Learning the other members is worth half the time at most; the statuses themselves are the point.
    await this.members({ deadlineMs: Math.floor(this.commandTimeoutMs / 2) }).catch(() => undefined);
    return Promise.all(this.endpoints.map((endpoint) => this.statusOrError(endpoint, deadlineMs)));
  }

  /** Healthy when a leader is known and a majority of the voting members answer a status request. */
  async health(): Promise<HealthReport> {
    const deadlineMs = performance.now() + this.commandTimeoutMs;
    let members: Member[];
    try {
      members = await this.members({ deadlineMs: Math.floor(this.commandTimeoutMs / 2) });
    } catch (error) {
      const reason = `cannot get the member list: ${error instanceof Error ? error.message : String(error)}`;
      return { healthy: false, reason, votersTotal: 0, votersAnswering: 0, members: [] };
    }
    // Ask the advertised addresses and the endpoints we were given: a member reachable only
    // under the address the caller used (NAT, a proxy) still counts, matched by its member id.
    const targets = [...new Set([...members.map((m) => m.clientAddress).filter((a) => a !== ""), ...this.endpoints])];
    const answers = await Promise.all(targets.map((endpoint) => this.statusOrError(endpoint, deadlineMs)));
    const byMember = new Map<string, EndpointStatus>();
    for (const answer of answers) if (answer.status) byMember.set(answer.status.memberId, answer);
    for (const member of members) {
      if (byMember.has(member.id)) continue;
      const failed = answers.find((a) => a.endpoint === member.clientAddress);
      byMember.set(member.id, failed ?? { endpoint: "", error: "no client address advertised" });
    }
    return evaluateHealth(members, byMember);
  }

  /** Streams a backup from one endpoint into `path`, verified against the server's SHA-256; retried from scratch on another endpoint if the stream breaks. */
  async saveSnapshot(path: string, options: { timeoutMs?: number; consistency?: Consistency } = {}): Promise<SnapshotSaveResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_SNAPSHOT_TIMEOUT_MS;
    const serializable = options.consistency === "serializable";
    const policy = { operation: `snapshot save to ${path}`, idempotent: true, preferLeader: false, deadlineMs: timeoutMs, attemptTimeoutMs: timeoutMs };
    return this.run(policy, async (c, signal) => {
      const written = await writeVerifiedSnapshot(() => c.maintenance.snapshot({ serializable }, { signal }), path);
      return { ...written, path, endpoint: c.endpoint.address };
    });
  }

  /**
   * The changes of `key` (with prefix: of every key starting with it) as the
   * members apply them, in revision order, until options.signal fires. The
   * first batch has no events: the watch is in place, and every change after
   * its header's revision follows. When the member streaming them fails, the
   * watch goes on at another member from the next revision; an error ends it
   * only when no member can be reached within the command timeout, or when a
   * member refuses it (a start revision no longer kept: failed_precondition).
   */
  async *watch(key: string, options: WatchOptions = {}): AsyncGenerator<WatchBatch> {
    const prefix = options.prefix ?? false;
    let next = options.startRevision ?? 0;
    let breaksInARow = 0;
    while (!options.signal?.aborted) {
      const request = {
        key,
        prefix,
        startRevision: next,
        prevKv: options.prevKv ?? false,
        rangeEnd: options.rangeEnd ?? "",
        noPut: options.noPut ?? false,
        noDelete: options.noDelete ?? false,
      };
      const opened = await this.run({ operation: `watch "${key}"`, idempotent: true, preferLeader: false }, (c, signal) => openWatch(c, request, signal, options.signal));
      try {
        let batch = opened.first;
        if (next === 0) next = batch.header.revision + 1;
        for (;;) {
          const last = batch.events[batch.events.length - 1];
          if (last !== undefined) next = last.kv.modRevision + 1;
          yield batch;
          const more = await opened.rest.next();
          if (more.done) break; // the member ended the stream: go on elsewhere
          batch = toBatch(more.value);
          breaksInARow = 0;
        }
      } catch (error) {
        if (options.signal?.aborted) return;
        const failure = classifyFailure(error);
        // A broken connection mid-stream surfaces as "unknown"; only a member's refusal ends the watch.
        if (WATCH_REFUSALS.has(failure.code)) throw new ServerError(`${failure.message} [${failure.code}]`, failure.code, "");
        if (++breaksInARow > MAX_WATCH_BREAKS_IN_A_ROW) throw new ServerError(`watch "${key}" broke ${breaksInARow} times in a row: ${failure.message}`, failure.code, "");
        // The member went away or gave up on this watch: open it again from `next`, at whichever member answers.
      } finally {
        opened.close();
      }
    }
  }

  /** The status or, in `error`, why not (without the endpoint: the row names it). */
  private async statusOrError(endpoint: string, deadlineMs: number): Promise<EndpointStatus> {
    try {
      return { endpoint, status: await this.askStatus(parseEndpoint(endpoint, this.secure), Math.max(1, deadlineMs - performance.now())) };
    } catch (error) {
      return { endpoint, error: error instanceof DkvClientError ? error.message : classifyFailure(error).message };
    }
  }

  private async askStatus(endpoint: Endpoint, timeoutMs: number): Promise<NodeStatus> {
    const response = await withTimeout(timeoutMs, (signal) => this.clientsFor(endpoint).maintenance.status({}, { signal }));
    return fromStatus(response);
  }

  private run<T>(policy: CallPolicy, call: (clients: EndpointClients, signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.failover.run(policy, call);
  }

  private clientsFor(endpoint: Endpoint): EndpointClients {
    let clients = this.clients.get(endpoint.url);
    if (!clients) {
      clients = createEndpointClients(endpoint, this.tls, this.authorization);
      this.clients.set(endpoint.url, clients);
    }
    return clients;
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new DkvClientError(`${name} must be a positive number of milliseconds, not ${value}`, "invalid_options");
  return value;
}
