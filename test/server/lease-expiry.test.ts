import { describe, expect, test } from "bun:test";
import { NodeError } from "../../src/server/contract";
import { LeaseExpiry, MAX_REVOKES_PER_CHECK, REVOKE_RETRY_MS } from "../../src/server/lease-expiry";
import type { ApplyResult, LeaseInfo } from "../../src/storage";

const base = { clientId: "", requestId: 0n };
const grant = (index: number, id: number, ttlSeconds: number): ApplyResult => ({ ...base, index, kind: "leaseGrant", id, ttlSeconds });
const keepAlive = (index: number, id: number, ttlSeconds: number): ApplyResult => ({ ...base, index, kind: "leaseKeepAlive", id, ttlSeconds });
const revoked = (index: number, id: number): ApplyResult => ({ ...base, index, kind: "leaseRevoke", id, deleted: [] });

function harness(leases: LeaseInfo[] = []) {
  let now = 1_000;
  const revokes: number[] = [];
  const failures: number[] = [];
  let answer: (id: number) => Promise<unknown> = () => new Promise(() => {});
  const expiry = new LeaseExpiry({
    now: () => now,
    leases: () => leases,
    revoke: (id) => {
      revokes.push(id);
      return answer(id);
    },
    onRevokeFailed: (id) => failures.push(id),
  });
  return {
    expiry,
    revokes,
    failures,
    advance(ms: number) {
      now += ms;
      expiry.check();
    },
    answerWith(f: (id: number) => Promise<unknown>) {
      answer = f;
    },
  };
}

describe("lease expiry on the leader", () => {
  test("a follower times nothing; a new leader gives every lease its whole TTL from the moment it leads", () => {
    const h = harness([{ id: 1, ttlSeconds: 2 }, { id: 2, ttlSeconds: 10 }]);
    h.expiry.applied([grant(1, 3, 1)]);
    h.advance(60_000);
    expect(h.revokes).toEqual([]);
    h.expiry.startLeading();
    h.advance(1_999);
    expect(h.revokes).toEqual([]);
    h.advance(1);
    expect(h.revokes).toEqual([1]);
    h.advance(7_999);
    expect(h.revokes.includes(2)).toBe(false);
    h.advance(1);
    expect(h.revokes.filter((id) => id === 2)).toEqual([2]);
  });

  test("grants and keep-alives applied while leading restart the TTL; a revoke stops the timing", () => {
    const h = harness();
    h.expiry.startLeading();
    h.expiry.applied([grant(1, 7, 3), grant(2, 8, 3)]);
    h.advance(2_000);
    h.expiry.applied([keepAlive(3, 7, 3)]);
    h.advance(1_500);
    expect(h.revokes).toEqual([8]);
    expect(h.expiry.remainingMs(7)).toBe(1_500);
    h.expiry.applied([revoked(4, 7)]);
    h.advance(10_000);
    expect(h.revokes).toEqual([8, 8]);
    expect(h.expiry.remainingMs(7)).toBeUndefined();
  });

  test("renew restarts the TTL on the leader's clock; not for an overdue lease, one being revoked, or on a follower", () => {
    const h = harness();
    expect(h.expiry.renew(7, 3)).toBe(false);
    h.expiry.startLeading();
    h.expiry.applied([grant(1, 7, 3), grant(2, 8, 3)]);
    h.advance(2_500);
    expect(h.expiry.renew(7, 3)).toBe(true);
    expect(h.expiry.remainingMs(7)).toBe(3_000);
    h.advance(500);
    // Lease 8 reached its deadline: its revoke is proposed, and a late keep-alive does not bring it back.
    expect(h.revokes).toEqual([8]);
    expect(h.expiry.renew(8, 3)).toBe(false);
    h.advance(2_499);
    expect(h.revokes).toEqual([8]);
    h.advance(1);
    expect(h.revokes).toEqual([8, 7]);
    expect(h.expiry.renew(7, 3)).toBe(false);
    h.expiry.stopLeading();
    expect(h.expiry.renew(9, 3)).toBe(false);
  });

  test("a revoke in flight is not proposed again before REVOKE_RETRY_MS; one the lease outran is dropped", async () => {
    const h = harness();
    h.expiry.startLeading();
    h.expiry.applied([grant(1, 1, 1), grant(2, 2, 1)]);
    h.advance(1_000);
    expect(h.revokes).toEqual([1, 2]);
    h.advance(REVOKE_RETRY_MS - 1);
    expect(h.revokes).toEqual([1, 2]);
    h.answerWith((id) => Promise.reject(id === 1 ? new NodeError("not_found", "gone") : new NodeError("unavailable", "no quorum")));
    h.advance(1);
    expect(h.revokes).toEqual([1, 2, 1, 2]);
    await Bun.sleep(0);
    expect(h.failures).toEqual([2]);
    expect(h.expiry.tracked).toBe(1);
  });

  test("stepping down forgets every deadline; a mass expiry is revoked a bounded batch per check", () => {
    const leases = Array.from({ length: MAX_REVOKES_PER_CHECK + 10 }, (_, i) => ({ id: i + 1, ttlSeconds: 1 }));
    const h = harness(leases);
    h.expiry.startLeading();
    h.expiry.stopLeading();
    h.advance(5_000);
    expect(h.revokes).toEqual([]);
    h.expiry.startLeading();
    h.advance(1_000);
    expect(h.revokes.length).toBe(MAX_REVOKES_PER_CHECK);
    h.advance(1);
    expect(h.revokes.length).toBe(MAX_REVOKES_PER_CHECK + 10);
  });
});
