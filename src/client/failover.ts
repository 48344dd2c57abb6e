// The retry loop every call goes through: pick an endpoint (the leader first
// when that saves a hop), dial it, send, and on a transient failure move to
// the next one, with capped backoff between passes, all within one deadline.
// A non-idempotent call is never sent twice: once it may have reached a
// server, a lost answer becomes OutcomeUnknownError.
import { backoffMs, sleep } from "./backoff.ts";
import { dialTcp } from "./dial.ts";
import type { Endpoint } from "./endpoints.ts";
import { ClusterUnavailableError, DkvClientError, OutcomeUnknownError, ServerError } from "./errors.ts";
import { AttemptTimeout, classifyFailure, type Failure } from "./failure.ts";
import type { EndpointPool } from "./pool.ts";
import type { EndpointClients } from "./transport.ts";

export interface FailoverSettings {
  commandTimeoutMs: number;
  dialTimeoutMs: number;
  /** Longest one try of an idempotent call may take before the next endpoint is tried. */
  attemptTimeoutMs: number;
}

export interface CallPolicy {
  /** Names the operation in errors, e.g. `put "a"`. */
  operation: string;
  /** Safe to send again after it may have reached a server (reads, put, delete). */
  idempotent: boolean;
  /** Send to the leader when known, discovering it first (writes, linearizable reads). */
  preferLeader: boolean;
  /** Overall deadline for this call instead of commandTimeoutMs. */
  deadlineMs?: number;
  /** Longest single try instead of the client's attemptTimeoutMs (a snapshot download needs the whole deadline). */
  attemptTimeoutMs?: number;
}

export type Call<T> = (clients: EndpointClients, signal: AbortSignal) => Promise<T>;

type AttemptResult<T> = { ok: true; value: T } | { ok: false; rediscovered: true } | { ok: false; rediscovered: false; failure: Failure; sent: boolean };

export class Failover {
  constructor(
    private readonly pool: EndpointPool,
    private readonly clientsFor: (endpoint: Endpoint) => EndpointClients,
    private readonly settings: FailoverSettings,
  ) {}

  async run<T>(policy: CallPolicy, call: Call<T>): Promise<T> {
    const totalMs = policy.deadlineMs ?? this.settings.commandTimeoutMs;
    const deadlineMs = performance.now() + totalMs;
    const tried: string[] = [];
    const skipped = new Set<string>();
    let lastCause = "none";
    const unavailable = (reason: string) => new ClusterUnavailableError(policy.operation, tried, lastCause, reason);
    for (let pass = 0; ; pass++) {
      const triedThisPass = new Set<string>();
      for (;;) {
        const endpoint = this.pool.ordered(policy.preferLeader).find((e) => !triedThisPass.has(e.address) && !skipped.has(e.address));
        if (!endpoint) break;
        if (deadlineMs - performance.now() <= 0) throw unavailable(`no endpoint answered within ${formatMs(totalMs)}`);
        triedThisPass.add(endpoint.address);
        if (!tried.includes(endpoint.address)) tried.push(endpoint.address);
        const result = await this.attempt(endpoint, policy, call, deadlineMs);
        if (result.ok) return result.value;
        if (result.rediscovered) {
          // The member list may have named a leader: pick again, this endpoint included.
          triedThisPass.delete(endpoint.address);
          continue;
        }
        lastCause = `${endpoint.address}: ${result.failure.message}`;
        this.noteFailure(endpoint.address, result.failure, skipped);
        if (result.failure.kind === "final") {
          throw new ServerError(`${result.failure.message} [${result.failure.code}]`, result.failure.code, endpoint.address);
        }
        const mayHaveArrived = result.failure.kind === "lost" || result.failure.kind === "transient";
        if (!policy.idempotent && result.sent && mayHaveArrived) {
          throw new OutcomeUnknownError(policy.operation, endpoint.address, result.failure.message);
        }
      }
      if (this.pool.all().every((e) => skipped.has(e.address))) throw unavailable("no endpoint could be used");
      const remainingMs = deadlineMs - performance.now();
      if (remainingMs <= 0) throw unavailable(`no endpoint answered within ${formatMs(totalMs)}`);
      await sleep(Math.min(backoffMs(pass + 1), remainingMs));
    }
  }

  private noteFailure(address: string, failure: Failure, skipped: Set<string>): void {
    if (failure.kind === "untrusted") skipped.add(address);
    if (failure.kind === "transient") this.pool.forgetLeader(address);
    else if (failure.kind !== "final") this.pool.markBroken(address);
  }

  private async attempt<T>(endpoint: Endpoint, policy: CallPolicy, call: Call<T>, deadlineMs: number): Promise<AttemptResult<T>> {
    let sent = false;
    try {
      if (!this.pool.isDialed(endpoint.address)) {
        await dialTcp(endpoint.host, endpoint.port, Math.max(1, Math.round(Math.min(this.settings.dialTimeoutMs, deadlineMs - performance.now()))));
        this.pool.markDialed(endpoint.address);
      }
      const clients = this.clientsFor(endpoint);
      if (policy.preferLeader && this.pool.needsDiscovery(performance.now())) {
        await this.discover(clients, deadlineMs);
        return { ok: false, rediscovered: true };
      }
      // A call that cannot be retried gets all the time left: cutting it short would only make its outcome unknown.
      const remainingMs = Math.max(1, deadlineMs - performance.now());
      const attemptMs = policy.attemptTimeoutMs ?? this.settings.attemptTimeoutMs;
      const timeoutMs = policy.idempotent ? Math.min(attemptMs, remainingMs) : remainingMs;
      sent = true;
      const value = await withTimeout(timeoutMs, (signal) => call(clients, signal));
      this.pool.markAnswered(endpoint.address);
      return { ok: true, value };
    } catch (error) {
      // The client's own verdicts (a bad checksum) are not transport trouble: never retried.
      if (error instanceof DkvClientError) throw error;
      return { ok: false, rediscovered: false, failure: classifyFailure(error), sent };
    }
  }

  /** Asks one endpoint for the member list; a server that answers but cannot list members is not a failed endpoint. */
  private async discover(clients: EndpointClients, deadlineMs: number): Promise<void> {
    const timeoutMs = Math.max(1, Math.min(this.settings.attemptTimeoutMs, deadlineMs - performance.now()));
    try {
      const response = await withTimeout(timeoutMs, (signal) => clients.membership.getServers({}, { signal }));
      const members = response.servers.map((s) => ({ id: s.id, clientAddress: s.rpcAddress, isLeader: s.isLeader }));
      this.pool.learn(members, performance.now());
      this.pool.markAnswered(clients.endpoint.address);
    } catch (error) {
      const kind = classifyFailure(error).kind;
      // Only an endpoint that answered (even with an error) is good enough to go on without a member list.
      if (kind !== "transient" && kind !== "final") throw error;
      this.pool.learn(undefined, performance.now());
    }
  }
}

/** Runs fn with a signal that aborts after timeoutMs with an AttemptTimeout reason. */
export async function withTimeout<T>(timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  // Deadlines come from the monotonic clock, in fractions of a millisecond; messages show whole ones.
  timeoutMs = Math.max(1, Math.round(timeoutMs));
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new AttemptTimeout(timeoutMs)), timeoutMs);
  try {
    return await fn(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
