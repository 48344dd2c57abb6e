// When leases end. The state machine knows which leases exist and their TTLs
// but not time; only the leader keeps deadlines, on its own monotonic clock,
// and ends an overdue lease by proposing a revoke that every member applies.
// A leader that just took over gives every lease its whole TTL again (etcd
// does the same): it cannot know how long ago the old leader last heard a
// keep-alive, so a lease may outlive its TTL by up to one TTL across a change
// of leader, but never ends before a client's keep-alive could have kept it.
// Deadlines move when a grant is applied here, and when a keep-alive reaches
// the leader: keep-alives are not raft entries (as in etcd), since only the
// leader's clock counts and a new leader restarts every TTL anyway.
import type { ApplyResult, LeaseInfo } from "../storage/index.ts";
import { NodeError } from "./contract.ts";

/** A revoke that neither applied nor failed is proposed again after this long. */
export const REVOKE_RETRY_MS = 5000;
/** At most this many revokes are started per check, so a mass expiry does not flood the log at once. */
export const MAX_REVOKES_PER_CHECK = 256;

export interface LeaseExpiryDeps {
  /** Monotonic milliseconds. */
  now(): number;
  /** Every lease in the applied state. */
  leases(): LeaseInfo[];
  /** Proposes the revoke of lease `id`; resolves once applied. */
  revoke(id: number): Promise<unknown>;
  /** A revoke that failed for another reason than the lease being gone already. */
  onRevokeFailed(id: number, error: unknown): void;
}

export class LeaseExpiry {
  private readonly deadlines = new Map<number, number>();
  /** Leases whose revoke is in flight, with when it was proposed. */
  private readonly revoking = new Map<number, number>();
  private leading = false;

  constructor(private readonly d: LeaseExpiryDeps) {}

  get isLeading(): boolean {
    return this.leading;
  }

  /** Leases this member is timing (only while it leads). */
  get tracked(): number {
    return this.deadlines.size;
  }

  /** Milliseconds left for lease `id`, if this member is timing it. */
  remainingMs(id: number): number | undefined {
    const deadline = this.deadlines.get(id);
    return deadline === undefined ? undefined : Math.max(0, deadline - this.d.now());
  }

  /**
   * A keep-alive for a lease the state holds: its whole TTL starts again now.
   * False when its deadline has passed already (the revoke is under way, as
   * etcd answers an expired lease) or this member does not lead.
   */
  renew(id: number, ttlSeconds: number): boolean {
    if (!this.leading || this.revoking.has(id)) return false;
    const now = this.d.now();
    const deadline = this.deadlines.get(id);
    if (deadline !== undefined && deadline <= now) return false;
    this.deadlines.set(id, now + ttlSeconds * 1000);
    return true;
  }

  /** This member became leader: every lease starts its whole TTL now. */
  startLeading(): void {
    this.leading = true;
    this.deadlines.clear();
    this.revoking.clear();
    const now = this.d.now();
    for (const lease of this.d.leases()) this.deadlines.set(lease.id, now + lease.ttlSeconds * 1000);
  }

  stopLeading(): void {
    this.leading = false;
    this.deadlines.clear();
    this.revoking.clear();
  }

  /** The state changed wholesale (a snapshot installed): time its leases afresh if leading. */
  reload(): void {
    if (this.leading) this.startLeading();
  }

  applied(results: readonly ApplyResult[]): void {
    if (!this.leading) return;
    for (const result of results) {
      switch (result.kind) {
        case "leaseGrant":
        // Keep-alive entries come from members of an older version, which proposed them.
        case "leaseKeepAlive":
          this.deadlines.set(result.id, this.d.now() + result.ttlSeconds * 1000);
          this.revoking.delete(result.id);
          break;
        case "leaseRevoke":
          this.deadlines.delete(result.id);
          this.revoking.delete(result.id);
          break;
      }
    }
  }

  /** Proposes the revoke of every overdue lease not being revoked already. */
  check(): void {
    if (!this.leading || this.deadlines.size === 0) return;
    const now = this.d.now();
    let started = 0;
    for (const [id, deadline] of this.deadlines) {
      if (deadline > now) continue;
      const proposedAt = this.revoking.get(id);
      if (proposedAt !== undefined && now - proposedAt < REVOKE_RETRY_MS) continue;
      if (started++ >= MAX_REVOKES_PER_CHECK) break;
      this.revoking.set(id, now);
      this.d.revoke(id).then(
        () => undefined,
        (error: unknown) => {
          if (error instanceof NodeError && error.code === "not_found") {
            this.deadlines.delete(id);
            this.revoking.delete(id);
            return;
          }
          this.d.onRevokeFailed(id, error);
        },
      );
    }
  }
}
