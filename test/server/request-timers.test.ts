import { describe, expect, test } from "bun:test";
import { Cancellation } from "../../src/server/cancel-signal";
import { RESOLUTION_MS, TimerWheel } from "../../src/server/request-timers";
import { waitFor } from "../e2e/cluster";

/** Resolves once `condition` holds; fails the test after 5 s. */
async function waitUntil(condition: () => boolean): Promise<void> {
  await waitFor("the timers to fire", 5_000, () => condition() || undefined, 2);
}

describe("request deadlines on one timer wheel", () => {
  test("a deadline fires once, never before its delay, and leaves nothing pending", async () => {
    const wheel = new TimerWheel();
    const started = performance.now();
    const firedAt: number[] = [];
    wheel.schedule(40, () => firedAt.push(performance.now() - started));
    expect(wheel.pending).toBe(1);
    await waitUntil(() => firedAt.length === 1);
    await Bun.sleep(3 * RESOLUTION_MS);
    expect(firedAt).toHaveLength(1);
    expect(firedAt[0]!).toBeGreaterThanOrEqual(40);
    expect(wheel.pending).toBe(0);
  });

  test("a cancelled deadline never fires; the others still do", async () => {
    const wheel = new TimerWheel();
    const fired: string[] = [];
    const cancelled = wheel.schedule(20, () => fired.push("cancelled"));
    wheel.schedule(20, () => fired.push("kept"));
    wheel.cancel(cancelled);
    wheel.cancel(cancelled); // twice is harmless
    expect(wheel.pending).toBe(1);
    await waitUntil(() => fired.length === 1);
    await Bun.sleep(3 * RESOLUTION_MS);
    expect(fired).toEqual(["kept"]);
  });

  test("deadlines fire in deadline order, also when a shorter one is scheduled after a longer one", async () => {
    const wheel = new TimerWheel();
    const fired: number[] = [];
    for (const delay of [120, 60, 90, 30]) wheel.schedule(delay, () => fired.push(delay));
    await waitUntil(() => fired.length === 4);
    expect(fired).toEqual([30, 60, 90, 120]);
  });

  test("thousands of deadlines finished early (the usual request) leave the wheel empty and fire nothing", async () => {
    const wheel = new TimerWheel();
    let fired = 0;
    const timers = Array.from({ length: 5_000 }, (_, i) => wheel.schedule(30 + (i % 50), () => fired++));
    for (const timer of timers) wheel.cancel(timer);
    expect(wheel.pending).toBe(0);
    await Bun.sleep(120);
    expect(fired).toBe(0);
  });

  test("a callback that throws does not keep the rest of its slot from firing; the error is reported", async () => {
    const errors: unknown[] = [];
    const wheel = new TimerWheel(RESOLUTION_MS, () => performance.now(), (error) => errors.push(error));
    const fired: string[] = [];
    wheel.schedule(10, () => {
      throw new Error("boom");
    });
    wheel.schedule(10, () => fired.push("after"));
    await waitUntil(() => fired.length === 1);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain("boom");
  });
});

describe("Cancellation, the lean path's per-call signal", () => {
  test("abort() calls the listeners once, in order, with the reason readable; later aborts change nothing", () => {
    const cancellation = new Cancellation();
    const calls: string[] = [];
    cancellation.addEventListener("abort", () => calls.push(`first:${String(cancellation.reason)}`));
    cancellation.addEventListener("abort", () => calls.push("second"));
    expect(cancellation.aborted).toBe(false);
    cancellation.abort("gone");
    cancellation.abort("again");
    expect(cancellation.aborted).toBe(true);
    expect(cancellation.reason).toBe("gone");
    expect(calls).toEqual(["first:gone", "second"]);
  });

  test("a removed listener is not called, and one added after the abort is not called either (as with AbortSignal)", () => {
    const cancellation = new Cancellation();
    const calls: string[] = [];
    const removed = (): void => void calls.push("removed");
    cancellation.addEventListener("abort", removed);
    cancellation.addEventListener("abort", () => calls.push("kept"));
    cancellation.removeEventListener("abort", removed);
    cancellation.abort(undefined);
    cancellation.addEventListener("abort", () => calls.push("late"));
    expect(calls).toEqual(["kept"]);
  });
});
