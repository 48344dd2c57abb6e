import { describe, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ActiveCalls } from "../../src/api/active-calls.ts";

async function until(condition: () => boolean, deadlineMs = 2000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met before the deadline");
    await Bun.sleep(1);
  }
}

describe("ActiveCalls", () => {
  test("a call past its timeout is aborted with deadline_exceeded", async () => {
    const calls = new ActiveCalls(new AbortController().signal);
    const call = calls.begin(5, undefined);
    await until(() => call.signal.aborted);
    expect(call.signal.reason).toBeInstanceOf(ConnectError);
    expect((call.signal.reason as ConnectError).code).toBe(Code.DeadlineExceeded);
    calls.end(call);
  });

  test("a zero timeout aborts at once; no timeout never aborts by itself", async () => {
    const calls = new ActiveCalls(new AbortController().signal);
    const zero = calls.begin(0, undefined);
    expect(zero.signal.aborted).toBe(true);
    const open = calls.begin(undefined, undefined);
    await Bun.sleep(10);
    expect(open.signal.aborted).toBe(false);
    calls.end(zero);
    calls.end(open);
    expect(calls.size).toBe(0);
  });

  test("shutdown aborts every call in flight, with the shutdown reason, and not the ended ones", () => {
    const shutdown = new AbortController();
    const calls = new ActiveCalls(shutdown.signal);
    const inFlight = Array.from({ length: 300 }, () => calls.begin(60_000, undefined));
    const ended = calls.begin(60_000, undefined);
    calls.end(ended);
    expect(calls.size).toBe(300);
    const reason = new ConnectError("server is shutting down", Code.Canceled);
    shutdown.abort(reason);
    for (const call of inFlight) expect(call.signal.reason).toBe(reason);
    expect(ended.signal.aborted).toBe(false);
    for (const call of inFlight) calls.end(call);
    expect(calls.size).toBe(0);
  });

  test("a call begun after shutdown starts aborted", () => {
    const shutdown = new AbortController();
    const calls = new ActiveCalls(shutdown.signal);
    shutdown.abort(new Error("stopped"));
    const call = calls.begin(undefined, undefined);
    expect(call.signal.aborted).toBe(true);
    expect((call.signal.reason as Error).message).toBe("stopped");
    calls.end(call);
  });

  test("the client going away aborts its call only; ending detaches the listener", () => {
    // Watched from the start (no delay), so the abort is seen at once.
    const calls = new ActiveCalls(new AbortController().signal, 0);
    const client = new AbortController();
    const other = calls.begin(undefined, new AbortController().signal);
    const call = calls.begin(undefined, client.signal);
    const reason = new Error("client closed");
    client.abort(reason);
    expect(call.signal.reason).toBe(reason);
    expect(other.signal.aborted).toBe(false);
    calls.end(call);
    calls.end(other);

    const later = new AbortController();
    const detached = calls.begin(undefined, later.signal);
    calls.end(detached);
    later.abort(new Error("after the call ended"));
    expect(detached.signal.aborted).toBe(false);
  });

  test("by default a client's signal is watched only once its call has run a while, then a client gone before or after is seen", async () => {
    const calls = new ActiveCalls(new AbortController().signal, 30);
    const goneEarly = new AbortController();
    const early = calls.begin(undefined, goneEarly.signal);
    const goneLate = new AbortController();
    const late = calls.begin(undefined, goneLate.signal);
    const finished = calls.begin(undefined, new AbortController().signal);
    calls.end(finished); // ends before the watch starts: nothing is left behind

    goneEarly.abort(new Error("closed early"));
    expect(early.signal.aborted).toBe(false); // not watched yet
    await until(() => early.signal.aborted);
    expect((early.signal.reason as Error).message).toBe("closed early");
    expect(late.signal.aborted).toBe(false);

    goneLate.abort(new Error("closed late"));
    expect((late.signal.reason as Error).message).toBe("closed late"); // watched now: at once
    expect(finished.signal.aborted).toBe(false);
    calls.end(early);
    calls.end(late);
    expect(calls.size).toBe(0);
  });

  test("a client signal already aborted aborts the call at once", () => {
    const calls = new ActiveCalls(new AbortController().signal);
    const call = calls.begin(undefined, AbortSignal.abort(new Error("gone")));
    expect((call.signal.reason as Error).message).toBe("gone");
    calls.end(call);
  });
});
