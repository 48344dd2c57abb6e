// A running dkv member: the raft core driven by real time, sqlite storage and
// the peer network, offering the KvNode operations to the client API. Writes
// on a follower are forwarded to the leader; linearizable reads wait for a
// read index confirmed by a quorum; serializable reads are local.
import { create } from "@bufbuild/protobuf";
import { ForwardResponseSchema, type ForwardRequest } from "../gen/dkv/raft/v1/raft_pb.ts";
import {
  ConfChangeType,
  RaftNode,
  Role,
  decodeConfChange,
  encodeConfChange,
  type ConfChange,
} from "../raft/index.ts";
import type { NodeConfig } from "./config.ts";
import {
  decodeOutcome,
  encodeCompareAndSwap,
  encodeDelete,
  encodeLeaseGrant,
  encodeLeaseRevoke,
  encodeOutcome,
  encodePut,
  encodeTxn,
} from "./commands.ts";
import {
  NodeError,
  type CompareAndSwap,
  type CompareAndSwapResult,
  type DeleteRange,
  type DeleteResult,
  type GetResult,
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
  type TxnRequest,
  type TxnResult,
  type WatchBatch,
  type WatchQuery,
  WriteOutcomeUnknown,
} from "./contract.ts";
import { Forwarder, type ForwardKind } from "./forwarder.ts";
import type { Logger } from "./logger.ts";
import { checkMemberAddress, encodeMemberContext, memberAddressesCommand, movedMemberWarnings, readMembers, type MemberInfo } from "./members.ts";
import { MembershipLoop } from "./membership-loop.ts";
import { RemovalWatch } from "./removal-watch.ts";
import { Leadership } from "./leadership.ts";
import { createNodeMetrics, type NodeMetrics } from "./node-metrics.ts";
import type { PeerNetwork } from "./peer-network.ts";
import { RaftDriver, toNodeError } from "./raft-driver.ts";
import type { ApplyOutcome } from "./apply-outcome.ts";
import type { Storage } from "../storage/index.ts";
import { forgetEncoded, MAX_LEASE_TTL_SECONDS } from "../storage/index.ts";
import { LeaseExpiry } from "./lease-expiry.ts";
import { randomInt } from "node:crypto";
import { WatchHub, streamWatch } from "./watch-hub.ts";
import { statSync } from "node:fs";
import { validateDeleteRange, validateKey, validateLeaseId, validateListRange, validateTxn, validateValue, validateWatchRange } from "./validate.ts";
import { createSeededPrng } from "./prng.ts";
import { Cancellation, type CancelSignal } from "./cancel-signal.ts";
import { requestTimers } from "./request-timers.ts";

/** Backup stream chunk size. */
const SNAPSHOT_STREAM_CHUNK_BYTES = 1024 * 1024;
type LeaseForwardKind = "lease_ttl" | "lease_keep_alive";
/** A follower's lease question or keep-alive to the leader is a ping's size plus a read barrier: it needs no longer. */
const LEASE_TTL_QUERY_TIMEOUT_MS = 2000;
/** A watch that has nothing to report says so this often: proxies and Bun.serve's idle timeout would end a silent stream. */
export const WATCH_KEEPALIVE_MS = 5000;

export interface NodeDeps {
  config: NodeConfig;
  store: Storage;
  network: PeerNetwork;
  log: Logger;
  version: string;
  /** Seed for the election-timeout jitter; differs per process so members do not tie. */
  seed: number;
  /** The node's storage failed and it stopped; the process should end (see RaftDriver's onStorageFailure). */
  onStorageFailure?: (reason: string) => void;
  /** This member was removed from the cluster, or lost entries it had acknowledged: the process should end (as etcd's does), with `reason` as its last word. */
  onRemoved?: (reason: string) => void;
}

export class DkvNode implements KvNode {
  readonly metrics: NodeMetrics = createNodeMetrics();
  private readonly raft: RaftNode;
  private readonly driver: RaftDriver;
  private readonly forwarder: Forwarder;
  private memberList: MemberInfo[] = [];
  private readonly removal: RemovalWatch;
  private readonly leadership: Leadership;
  private addressesChecked = false;
  private tickTimer: ReturnType<typeof setInterval> | undefined;
  private readonly membershipLoop: MembershipLoop;
  private leaderWaiters: Array<() => void> = [];
  private readonly requestTimeoutMs: number;
  private stopping = false;
  private readonly watches: WatchHub;
  private readonly leaseExpiry: LeaseExpiry;

  constructor(private readonly d: NodeDeps) {
    const { config, store } = d;
    this.requestTimeoutMs = Math.max(5000, config.electionTimeoutMs * 5);
    this.raft = new RaftNode({
      id: config.name,
      storage: store.log,
      prng: createSeededPrng(d.seed),
      electionTicks: Math.max(3, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)),
      heartbeatTicks: 1,
      applied: store.kv.appliedIndex(),
      preVote: true,
      checkQuorum: true,
    });
    this.forwarder = new Forwarder(d.network, (s) => this.metrics.peerRoundTripSeconds.observe(s));
    this.removal = new RemovalWatch({
      self: config.name,
      dataDir: config.dataDir,
      electionTimeoutMs: config.electionTimeoutMs,
      log: d.log,
      ...(d.onRemoved ? { onRemoved: d.onRemoved } : {}),
      isStopping: () => this.stopping,
    });
    this.driver = new RaftDriver({
      raft: this.raft,
      store,
      send: (messages, flush) => d.network.sendRaft(messages, flush),
      log: d.log,
      metrics: this.metrics,
      snapshotCount: config.snapshotCount,
      requestTimeoutMs: this.requestTimeoutMs,
      onMembershipApplied: () => this.refreshMembers(),
      onLeaderChange: (leader, role) => this.leaderChanged(leader, role),
      onApplied: (results) => {
        this.watches.publish(results);
        this.leaseExpiry.applied(results);
      },
      onSnapshotInstalled: (index) => {
        this.watches.reset(index + 1, `this member replaced its state with a snapshot from the leader at revision ${index}; read the keys again and watch from that answer's revision plus one`);
        this.leaseExpiry.reload();
      },
      ...(d.onStorageFailure ? { onStorageFailure: d.onStorageFailure } : {}),
    });
    this.leadership = new Leadership({
      config,
      raft: this.raft,
      driver: this.driver,
      log: d.log,
      catchUp: (signal) => this.readPoint("linearizable", signal),
    });
    this.leaseExpiry = new LeaseExpiry({
      now: () => performance.now(),
      leases: () => store.kv.leases(),
      revoke: (id) => this.write("propose", encodeLeaseRevoke(id)),
      onRevokeFailed: (id, error) => d.log.warn("could not revoke an expired lease; retrying", { lease: id, error: error instanceof Error ? error.message : String(error) }),
    });
    this.watches = new WatchHub(store.kv.appliedIndex() + 1);
    this.membershipLoop = new MembershipLoop({
      config,
      store,
      log: d.log,
      forwarder: this.forwarder,
      isLeader: () => this.driver.isLeader,
      leaderId: () => this.driver.leaderId,
      raftStatus: () => this.raft.status(),
      refreshMembers: () => this.refreshMembers(),
      changeMembership: (change) => this.changeMembership(change),
      addMember: (id, peerAddress, clientAddress) => this.addMember(id, peerAddress, clientAddress, false),
      propose: (command) => this.write("propose", command),
    });
    this.wireMetrics();
  }

  async start(): Promise<void> {
    const { network, config, log } = this.d;
    this.refreshMembers();
    for (const member of config.initialCluster) {
      if (member.name !== config.name && !this.memberList.some((m) => m.id === member.name)) network.setPeer(member.name, member.peerAddress);
    }
    await network.start({
      onRaftMessage: (message) => {
        this.removal.noteMessage(message);
        this.driver.step(message);
      },
      onForwardRequest: (from, request) => void this.serveForwarded(from, request),
      onForwardResponse: (_from, response) => this.forwarder.deliver(response),
      onUnreachable: (id) => this.driver.reportUnreachable(id),
      isRemoved: (id) => this.removal.isRemoved(id),
      onRemoved: (from) => this.removal.toldBy(from, this.memberList.some((m) => m.id === from)),
    });
    this.removal.started();
    let lastTickMs = performance.now();
    this.tickTimer = setInterval(() => {
      const now = performance.now();
      this.metrics.eventLoopDelaySeconds.observe(Math.max(0, now - lastTickMs - config.heartbeatIntervalMs) / 1000);
      lastTickMs = now;
      this.driver.tick();
      this.leaseExpiry.check();
      this.removal.tick();
      const lost = this.raft.lostLog();
      if (lost) this.removal.lostLog(lost);
    }, config.heartbeatIntervalMs);
    this.membershipLoop.start();
    // A single voter has nobody to wait for: take the lead now instead of after a timeout.
    const status = this.raft.status();
    if (status.confState.voters.length === 1 && status.confState.voters[0] === config.name) this.raft.campaign();
    this.driver.schedule();
    log.info("member started", { peer: network.boundAddress, voters: status.confState.voters.join(",") || "(none yet)" });
  }

  /** Stops serving: hands leadership to another voter if we lead, then closes everything. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.membershipLoop.stop();
    // After a storage failure the driver sends nothing: no hand-off can happen, the followers elect on their own.
    if (this.driver.isLeader && !this.driver.isStopped) await this.leadership.handOffBeforeStop();
    clearInterval(this.tickTimer);
    await this.driver.flush();
    this.driver.stop();
    this.forwarder.failAll("the member is shutting down; retry on another member");
    this.watches.endAll("the member is shutting down; watch again on another member");
    await this.d.network.close();
    this.d.store.close();
    this.d.log.info("member stopped");
  }

  // ---- KvNode: reads ----

  async get(key: string, consistency: ReadConsistency, signal?: CancelSignal): Promise<GetResult> {
    validateKey(key);
    await this.readPoint(consistency, signal);
    const kv = this.d.store.kv.get(key);
    return { ...(kv ? { kv } : {}), header: this.header() };
  }

  async list(query: ListQuery, signal?: CancelSignal): Promise<ListResult> {
    validateListRange(query);
    await this.readPoint(query.consistency, signal);
    const { kvs, more, count } = this.d.store.kv.clientRange({ ...query, countOnly: query.countOnly ?? false });
    return { kvs, more, count: count ?? 0, header: this.header() };
  }

  private async readPoint(consistency: ReadConsistency, signal?: CancelSignal): Promise<void> {
    if (consistency === "serializable") return;
    await this.driver.readBarrier(signal);
  }

  // ---- KvNode: watches ----

  watch(query: WatchQuery, signal?: CancelSignal): AsyncIterable<WatchBatch> {
    validateWatchRange(query);
    if (this.stopping) throw new NodeError("unavailable", "the member is shutting down; watch again on another member");
    return streamWatch(this.watches, query, {
      applied: this.d.store.kv.appliedIndex(),
      header: (revision) => this.header(revision),
      keepaliveMs: WATCH_KEEPALIVE_MS,
      ...(signal ? { signal } : {}),
    });
  }

  // ---- KvNode: writes ----

  async put(key: string, value: Uint8Array, signal?: CancelSignal, lease = 0): Promise<PutResult> {
    validateKey(key);
    validateValue(value);
    validateLeaseId(lease, true);
    this.checkQuota(key, value);
    const outcome = await this.write("propose", encodePut(key, value, lease), signal);
    if (!outcome.current) throw new NodeError("internal", "the write applied without a resulting key");
    return { kv: outcome.current, header: this.header(outcome.revision) };
  }

  async delete(key: string, signal?: CancelSignal, range: DeleteRange = {}): Promise<DeleteResult> {
    validateDeleteRange(key, range);
    const rangeEnd = range.rangeEnd ?? "";
    const outcome = await this.write("propose", encodeDelete(key, range), signal);
    if (range.prefix || rangeEnd !== "") {
      const count = outcome.deletedKeys ?? 0;
      return { deleted: count > 0, deletedCount: count, header: this.header(outcome.revision) };
    }
    const deleted = outcome.previous !== undefined;
    return { deleted, deletedCount: deleted ? 1 : 0, header: this.header(outcome.revision) };
  }

  async compareAndSwap(request: CompareAndSwap, signal?: CancelSignal): Promise<CompareAndSwapResult> {
    validateKey(request.compare.key);
    validateKey(request.key);
    validateLeaseId(request.lease ?? 0, true);
    if (request.delete && (request.lease ?? 0) !== 0) throw new NodeError("invalid_argument", "a compare-and-swap that deletes takes no lease");
    if (!request.delete) {
      validateValue(request.value);
      this.checkQuota(request.key, request.value);
    }
    const outcome = await this.write("propose", encodeCompareAndSwap(request), signal);
    return {
      succeeded: outcome.succeeded,
      ...(outcome.previous ? { previous: outcome.previous } : {}),
      header: this.header(outcome.revision),
    };
  }

  async txn(request: TxnRequest, signal?: CancelSignal): Promise<TxnResult> {
    validateTxn(request);
    // The quota as for the larger branch (either may run).
    let largestGrowth = 0;
    for (const ops of [request.success, request.failure]) {
      let growth = 0;
      for (const op of ops) if (op.type === "put") growth += Math.max(0, this.d.store.kv.growthIfPut(op.key, op.value.byteLength));
      largestGrowth = Math.max(largestGrowth, growth);
    }
    this.checkGrowth(largestGrowth);
    const outcome = await this.write("propose", encodeTxn(request), signal);
    return { succeeded: outcome.succeeded, results: outcome.txnResults ?? [], header: this.header(outcome.revision) };
  }

  // ---- KvNode: leases ----

  async leaseGrant(ttlSeconds: number, id: number, signal?: CancelSignal): Promise<LeaseGrantResult> {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_LEASE_TTL_SECONDS) {
      throw new NodeError("invalid_argument", `ttl_seconds must be a whole number of seconds from 1 to ${MAX_LEASE_TTL_SECONDS}, got ${ttlSeconds}`);
    }
    validateLeaseId(id, true);
    // A picked id is random below 2^48: a clash with a live lease is refused by the state machine, and then another is picked.
    for (let attempt = 1; ; attempt++) {
      const chosen = id !== 0 ? id : randomInt(1, 2 ** 48);
      try {
        const outcome = await this.write("propose", encodeLeaseGrant(chosen, ttlSeconds), signal);
        return { id: chosen, ttlSeconds, header: this.header(outcome.revision) };
      } catch (error) {
        if (id === 0 && attempt < 3 && error instanceof NodeError && error.code === "failed_precondition") continue;
        throw error;
      }
    }
  }

  async leaseRevoke(id: number, signal?: CancelSignal): Promise<LeaseRevokeResult> {
    validateLeaseId(id, false);
    const outcome = await this.write("propose", encodeLeaseRevoke(id), signal);
    return { deletedKeys: outcome.deletedKeys ?? 0, header: this.header(outcome.revision) };
  }

  /** Renews the lease on the leader's clock only: no raft entry (as etcd), a follower passes it on. */
  async leaseKeepAlive(id: number, signal?: CancelSignal): Promise<LeaseKeepAliveResult> {
    validateLeaseId(id, false);
    const ttlSeconds = (await this.askLeaderAboutLease("lease_keep_alive", id, signal)) as number;
    return { id, ttlSeconds, header: this.header() };
  }

  /** The leader's answer to a lease question or keep-alive: here when leading, else from the leader (forwarded once). */
  private async askLeaderAboutLease(kind: LeaseForwardKind, id: number, signal?: CancelSignal): Promise<number | null> {
    const leader = await this.awaitLeader(performance.now() + this.requestTimeoutMs, signal);
    if (leader === this.d.config.name) return this.leaseOnLeader(kind, id, signal);
    const response = await this.forwarder.send(leader, kind, new TextEncoder().encode(String(id)), LEASE_TTL_QUERY_TIMEOUT_MS, signal);
    return (JSON.parse(new TextDecoder().decode(response.result)) as { value: number | null }).value;
  }

  /** What the leader answers: the TTL after a keep-alive, or the milliseconds left (null: not timed). */
  private async leaseOnLeader(kind: LeaseForwardKind, id: number, signal?: CancelSignal): Promise<number | null> {
    return kind === "lease_keep_alive" ? this.renewLease(id, signal) : (this.leaseExpiry.remainingMs(id) ?? null);
  }

  /** The leader's side of a keep-alive: the lease's TTL starts again, if it has not ended. */
  private async renewLease(id: number, signal?: CancelSignal): Promise<number> {
    // Every grant acknowledged before this call is applied here after the barrier.
    await this.driver.readBarrier(signal);
    const lease = this.d.store.kv.lease(id);
    if (lease === undefined) throw new NodeError("not_found", `lease ${id} not found (it expired or was revoked); grant a new one`);
    if (!this.leaseExpiry.isLeading) throw new NodeError("unavailable", `member ${this.d.config.name} is no longer the leader; retry`);
    if (!this.leaseExpiry.renew(id, lease.ttlSeconds)) throw new NodeError("not_found", `lease ${id} expired and is being revoked; grant a new one`);
    return lease.ttlSeconds;
  }

  async leaseTimeToLive(id: number, withKeys: boolean, consistency: ReadConsistency, signal?: CancelSignal): Promise<LeaseTimeToLiveResult> {
    validateLeaseId(id, false);
    await this.readPoint(consistency, signal);
    const lease = this.d.store.kv.lease(id);
    if (lease === undefined) throw new NodeError("not_found", `lease ${id} not found (it expired or was revoked)`);
    const remainingMs = await this.leaseRemainingMs(id, consistency, signal);
    return {
      id,
      grantedTtlSeconds: lease.ttlSeconds,
      remainingSeconds: remainingMs === undefined ? -1 : Math.ceil(remainingMs / 1000),
      keys: withKeys ? this.d.store.kv.leaseKeys(id) : [],
      header: this.header(),
    };
  }

  /**
   * Only the leader times leases, so a follower asks it, as etcd's members do.
   * A serializable query stays local and answers undefined (unknown) off the leader.
   */
  private async leaseRemainingMs(id: number, consistency: ReadConsistency, signal?: CancelSignal): Promise<number | undefined> {
    if (this.driver.isLeader || consistency === "serializable") return this.leaseExpiry.remainingMs(id);
    return (await this.askLeaderAboutLease("lease_ttl", id, signal)) ?? undefined;
  }

  async leaseList(consistency: ReadConsistency, signal?: CancelSignal): Promise<{ leases: Array<{ id: number; ttlSeconds: number }>; header: ResponseHeader }> {
    await this.readPoint(consistency, signal);
    return { leases: this.d.store.kv.leases().sort((a, b) => a.id - b.id), header: this.header() };
  }

  /**
   * The keys live in memory: past the quota a write that adds bytes is
   * refused (deletes and shrinking writes still go through), as etcd refuses
   * writes past --quota-backend-bytes. Checked where the request arrives,
   * against that member's state.
   */
  private checkQuota(key: string, value: Uint8Array): void {
    this.checkGrowth(this.d.store.kv.growthIfPut(key, value.byteLength));
  }

  private checkGrowth(growth: number): void {
    const kv = this.d.store.kv;
    const quota = this.d.config.quotaBytes;
    if (growth > 0 && kv.dataBytes() + growth > quota) {
      throw new NodeError(
        "resource_exhausted",
        `the store holds ${kv.dataBytes()} bytes of keys and values and this write adds ${growth}, past the quota of ${quota} bytes (--quota-bytes); delete keys or raise the quota on every member`,
      );
    }
  }

  /** Proposes locally when leading, else forwards to the leader once. */
  private async write(kind: ForwardKind, data: Uint8Array, signal?: CancelSignal): Promise<ApplyOutcome> {
    const deadline = performance.now() + this.requestTimeoutMs;
    for (;;) {
      // Known leader (the usual case): no wait, and no promise for one.
      const leader = this.driver.leaderId || (await this.awaitLeader(deadline, signal));
      if (leader === this.d.config.name) {
        try {
          return kind === "conf_change" ? await this.driver.proposeConfChange(decodeConfChange(data), signal) : await this.driver.propose(data, signal);
        } catch (error) {
          // The core refused before proposing, or a new leader overwrote the entry (leadership just moved):
          // safe to try the new leader. Not a proposal cut off by a stop: it may still commit elsewhere.
          const notApplied = error instanceof NodeError && !(error instanceof WriteOutcomeUnknown) && error.code === "unavailable";
          if (notApplied && !this.driver.isLeader && performance.now() < deadline) continue;
          throw error;
        }
      }
      // Applied here, the leader's copy of these bytes arrives, not this one.
      forgetEncoded(data);
      try {
        const response = await this.forwarder.send(leader, kind, data, Math.max(1, deadline - performance.now()), signal);
        return decodeOutcome(response.result);
      } catch (error) {
        // Not sent at all (no connection yet): safe to retry until the deadline.
        if (error instanceof NodeError && error.message.includes("was not sent") && performance.now() < deadline) {
          await sleep(50);
          continue;
        }
        throw error;
      }
    }
  }

  private async awaitLeader(deadline: number, signal?: CancelSignal): Promise<string> {
    while (!this.driver.leaderId) {
      if (this.stopping) throw new NodeError("unavailable", "the member is shutting down; retry on another member");
      if (signal?.aborted) throw new NodeError("deadline_exceeded", "request cancelled by the client");
      const left = deadline - performance.now();
      if (left <= 0) throw new NodeError("unavailable", "no leader elected (is a majority of members up and reachable?)");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.leaderWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.driver.leaderId;
  }

  /** The leader's side of a forwarded request: run it and answer the sender. */
  private async serveForwarded(from: string, request: ForwardRequest): Promise<void> {
    const answer = (fields: { errorCode?: string; errorMessage?: string; result?: Uint8Array }) =>
      this.d.network.sendForwardResponse(from, create(ForwardResponseSchema, { requestId: request.requestId, ...fields }));
    try {
      if (request.kind === "ping") {
        answer({ result: new TextEncoder().encode(JSON.stringify({ clientAddress: this.d.config.advertiseClientAddress })) });
        return;
      }
      if (!this.driver.isLeader) {
        answer({ errorCode: "unavailable", errorMessage: `member ${this.d.config.name} is no longer the leader; the request was not applied, retry` });
        return;
      }
      if (request.kind === "lease_keep_alive" || request.kind === "lease_ttl") {
        const value = await this.leaseOnLeader(request.kind, Number(new TextDecoder().decode(request.command)));
        answer({ result: new TextEncoder().encode(JSON.stringify({ value })) });
        return;
      }
      if (request.kind !== "propose" && request.kind !== "conf_change") {
        // A newer member's request this one does not know: never guess and propose its bytes.
        answer({ errorCode: "failed_precondition", errorMessage: `member ${this.d.config.name} does not know the forwarded request "${request.kind}"; upgrade every member to the same version` });
        return;
      }
      const timeout = new Cancellation();
      const timer = requestTimers.schedule(Math.min(request.timeoutMs || this.requestTimeoutMs, this.requestTimeoutMs), () => timeout.abort(undefined));
      try {
        const outcome =
          request.kind === "conf_change"
            ? await this.driver.proposeConfChange(decodeConfChange(request.command), timeout)
            : await this.driver.propose(request.command, timeout);
        answer({ result: encodeOutcome(outcome) });
      } finally {
        requestTimers.cancel(timer);
      }
    } catch (error) {
      const e = toNodeError(error);
      answer({ errorCode: e.code, errorMessage: e.message });
    }
  }

  // ---- membership ----

  async members(): Promise<Member[]> {
    this.refreshMembers();
    const leader = this.driver.leaderId;
    return this.memberList.map((m) => ({ id: m.id, peerAddress: m.peerAddress, clientAddress: m.clientAddress, isLeader: m.id === leader, isLearner: m.isLearner }));
  }

  async addMember(id: string, peerAddress: string, clientAddress: string, learner: boolean, signal?: CancelSignal): Promise<void> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(id)) throw new NodeError("invalid_argument", `member name "${id}" must be 1-63 letters, digits, ".", "_" or "-"`);
    checkMemberAddress(peerAddress);
    const existing = this.memberList.find((m) => m.id === id);
    if (existing && (!existing.isLearner || learner)) throw new NodeError("already_exists", `member "${id}" is already in the cluster`);
    // New voters join as learners first and are promoted once caught up, so an
    // empty or unreachable newcomer never counts toward the quorum.
    const context = encodeMemberContext({ peerAddress, clientAddress, wantsVote: !learner });
    if (!existing) await this.changeMembership({ type: ConfChangeType.AddLearner, nodeId: id, context }, signal);
  }

  async updateMember(id: string, peerAddress: string, clientAddress: string, signal?: CancelSignal): Promise<void> {
    checkMemberAddress(peerAddress);
    if (clientAddress) checkMemberAddress(clientAddress, "client address");
    if (!this.memberList.some((m) => m.id === id)) throw new NodeError("not_found", `member "${id}" is not in the cluster`);
    await this.write("propose", memberAddressesCommand(this.d.store, id, peerAddress, clientAddress), signal);
  }

  async removeMember(id: string, signal?: CancelSignal): Promise<void> {
    if (!this.memberList.some((m) => m.id === id)) throw new NodeError("not_found", `member "${id}" is not in the cluster`);
    if (id === this.driver.leaderId) await this.leadership.moveAwayFrom(id, signal);
    await this.changeMembership({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) }, signal);
  }


  private async changeMembership(change: ConfChange, signal?: CancelSignal): Promise<void> {
    await this.write("conf_change", encodeConfChange(change), signal);
  }

  /** Checked once, when this member's record first shows (a restarted member re-applies its log after start). */
  private warnIfMoved(): void {
    const { config, log } = this.d;
    const own = this.memberList.find((m) => m.id === config.name);
    if (this.addressesChecked || !own) return;
    this.addressesChecked = true;
    for (const warning of movedMemberWarnings(own, config)) log.warn(warning);
  }

  private refreshMembers(): MemberInfo[] {
    const { members, removed } = readMembers(this.d.store, this.raft.status().confState);
    this.memberList = members;
    for (const member of this.memberList) {
      if (member.id !== this.d.config.name && member.peerAddress) this.d.network.setPeer(member.id, member.peerAddress);
    }
    this.removal.update(removed);
    this.warnIfMoved();
    return this.memberList;
  }

  // ---- status, readiness, backup, metrics ----

  async status(): Promise<NodeStatus> {
    const s = this.raft.status();
    return {
      memberId: this.d.config.name,
      clusterId: this.d.store.identity().clusterId,
      leaderId: s.leader,
      isLeader: s.role === Role.Leader,
      isLearner: s.confState.learners.includes(this.d.config.name),
      raftTerm: s.term,
      commitIndex: s.commit,
      appliedIndex: this.d.store.kv.appliedIndex(),
      dbSizeBytes: this.dbSizeBytes(),
      version: this.d.version,
    };
  }

  isLive(): boolean {
    return !this.stopping;
  }

  async isReady(signal?: CancelSignal): Promise<{ ready: boolean; reason: string }> {
    if (this.stopping) return { ready: false, reason: "shutting down" };
    if (!this.driver.leaderId) return { ready: false, reason: "no leader known" };
    try {
      await Promise.race([this.driver.readBarrier(signal), sleep(2000).then(() => Promise.reject(new Error("read index not confirmed within 2s")))]);
      return { ready: true, reason: "ok" };
    } catch (error) {
      return { ready: false, reason: error instanceof Error ? error.message : String(error) };
    }
  }

  async *snapshot(signal?: CancelSignal, options: { serializable?: boolean } = {}): AsyncIterable<{ data: Uint8Array; sha256: string; index: number; sizeBytes: number }> {
    // Serializable: what this member applied, with no quorum asked (recovery after losing a majority).
    if (!options.serializable) await this.driver.readBarrier(signal);
    const meta = await this.d.store.createSnapshot();
    const hash = new Bun.CryptoHasher("sha256");
    let offset = 0;
    for (;;) {
      if (signal?.aborted) return;
      const chunk = this.d.store.log.snapshotChunk(meta, offset, SNAPSHOT_STREAM_CHUNK_BYTES);
      hash.update(chunk.data);
      offset += chunk.data.length;
      yield { data: chunk.data, sha256: chunk.done ? hash.digest("hex") : "", index: meta.index, sizeBytes: meta.sizeBytes };
      if (chunk.done) return;
    }
  }

  metricsText(): string {
    return this.metrics.registry.render();
  }

  // ---- internals ----

  private header(revision?: number): ResponseHeader {
    return { revision: revision ?? this.d.store.kv.appliedIndex(), memberId: this.d.config.name, raftTerm: this.raft.term() };
  }

  private leaderChanged(leader: string, role: Role): void {
    if (role === Role.Leader && !this.leaseExpiry.isLeading) this.leaseExpiry.startLeading();
    if (role !== Role.Leader && this.leaseExpiry.isLeading) this.leaseExpiry.stopLeading();
    if (leader) {
      const waiters = this.leaderWaiters;
      this.leaderWaiters = [];
      for (const wake of waiters) wake();
    }
    this.d.log.info(role === Role.Leader ? "became leader" : leader ? "following leader" : "no leader", { leader: leader || "-", term: this.raft.status().term });
  }



  moveLeader(targetId: string, signal?: CancelSignal): Promise<{ leaderId: string; raftTerm: number }> {
    return this.leadership.move(targetId, signal);
  }

  private dbSizeBytes(): number {
    let total = 0;
    for (const suffix of ["", "-wal"]) {
      try {
        total += statSync(this.d.store.paths.database + suffix).size;
      } catch {
        // A missing WAL file simply adds nothing.
      }
    }
    return total;
  }

  private wireMetrics(): void {
    const m = this.metrics;
    m.hasLeader.setFunction(() => (this.driver.leaderId ? 1 : 0));
    m.isLeader.setFunction(() => (this.driver.isLeader ? 1 : 0));
    m.term.setFunction(() => this.raft.term());
    m.commitIndex.setFunction(() => this.raft.status().commit);
    m.appliedIndex.setFunction(() => this.d.store.kv.appliedIndex());
    m.proposalsPending.setFunction(() => this.driver.pendingProposals);
    m.peersConnected.setFunction(() => this.d.network.connectedPeers());
    m.keys.setFunction(() => this.d.store.kv.count());
    m.dbSizeBytes.setFunction(() => this.dbSizeBytes());
    m.watchers.setFunction(() => this.watches.watching);
    m.watchHistoryStart.setFunction(() => this.watches.oldestRevision);
    m.leases.setFunction(() => this.d.store.kv.leases().length);
    m.leasesTimed.setFunction(() => this.leaseExpiry.tracked);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
