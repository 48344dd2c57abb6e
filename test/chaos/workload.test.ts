// The recorder against a fake Connect server: what it sends, how it reads
// answers, and above all how it sorts failures: "fail" only when the write
// certainly had no effect, "unknown" for everything else.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server, TCPSocketListener } from "bun";
import { b64, freePort } from "../e2e/cluster.ts";
import { classify, NOT_APPLIED_MESSAGE, Recorder, rpc } from "./workload.ts";

const requests: Array<{ method: string; body: Record<string, unknown> }> = [];
let server: Server<undefined>;
let dropper: TCPSocketListener<undefined>;
let releaseHanging: () => void = () => {};
const hanging = new Promise<void>((resolve) => (releaseHanging = resolve));

function connectError(status: number, code: string, message: string): Response {
  return Response.json({ code, message }, { status });
}

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const method = new URL(request.url).pathname.slice(1);
      const body = (await request.json()) as Record<string, unknown>;
      requests.push({ method, body });
      const key = String(body.key ?? (body.compare as Array<{ key?: string }> | undefined)?.[0]?.key ?? "");
      if (key === "hang") {
        await hanging;
        return Response.json({});
      }
      if (key === "not-applied") return connectError(503, "unavailable", "leadership changed before the write committed; it was not applied, retry");
      if (key === "shutting-down") return connectError(503, "unavailable", "the node is shutting down; retry on another member");
      if (key === "timeout") return connectError(504, "deadline_exceeded", "the write was proposed but not confirmed in time; its outcome is unknown (it may still be applied)");
      if (key === "bad") return connectError(400, "invalid_argument", "key must not be empty");
      if (method.endsWith("/Get")) return Response.json(key === "absent" ? {} : { value: b64("v1"), found: true });
      if (method.endsWith("/CompareAndSwap")) return Response.json(key === "absent" ? {} : { succeeded: false, previous: { key, value: b64("other") }, previousFound: true });
      if (method.endsWith("/Txn")) return Response.json({ results: [{ get: key === "absent" ? {} : { found: true, value: b64("other") } }] });
      return Response.json({});
    },
  });
  // Reads the request, then closes without answering: sent, outcome unknown.
  dropper = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket) {
        socket.end();
      },
    },
  });
});

afterAll(() => {
  releaseHanging();
  server.stop(true);
  dropper.stop(true);
});

const endpoint = () => `http://127.0.0.1:${server.port}`;

describe("classifying a failed write", () => {
  test("certainly not applied: refused connection, invalid argument, and the server's not-applied answers", () => {
    expect(classify({ kind: "refused", message: "ECONNREFUSED" })).toBe("fail");
    expect(classify({ kind: "error", code: "invalid_argument", message: "key must not be empty" })).toBe("fail");
    for (const message of [
      "leadership changed before the write committed; it was not applied, retry",
      "member n1 is no longer the leader; the request was not applied, retry",
      "cannot reach the leader n0; the request was not sent, retry",
      "not the leader; the leader is n2",
      "no leader elected yet; retry shortly",
      "no leader elected (is a majority of members up and reachable?)",
      "leadership is being transferred; retry shortly",
    ]) {
      expect(classify({ kind: "error", code: "unavailable", message })).toBe("fail");
    }
  });

  test("uncertain: timeouts, lost connections, shutting down, and anything not known to be safe", () => {
    expect(classify({ kind: "lost", message: "ECONNRESET" })).toBe("unknown");
    expect(classify({ kind: "error", code: "deadline_exceeded", message: "the operation timed out" })).toBe("unknown");
    expect(classify({ kind: "error", code: "unavailable", message: "the node is shutting down; retry on another member" })).toBe("unknown");
    expect(classify({ kind: "error", code: "unavailable", message: "the member is shutting down" })).toBe("unknown");
    expect(classify({ kind: "error", code: "internal", message: "internal error; the server log has the details" })).toBe("unknown");
    expect(classify({ kind: "error", code: "resource_exhausted", message: "too many proposals; slow down" })).toBe("unknown");
    // "not applied" only counts on unavailable, the code the server uses for it.
    expect(classify({ kind: "error", code: "deadline_exceeded", message: "it was not applied" })).toBe("unknown");
    expect(NOT_APPLIED_MESSAGE.test("no answer from the leader n0 in time; the outcome of the request is unknown (it may still be applied)")).toBe(false);
  });
});

describe("rpc", () => {
  test("a refused connection is told apart from a lost one", async () => {
    const closedPort = freePort("127.0.0.1");
    expect((await rpc(`http://127.0.0.1:${closedPort}`, "dkv.v1.DkvAPI/Set", {}, 500)).kind).toBe("refused");
    expect((await rpc(`http://127.0.0.1:${dropper.port}`, "dkv.v1.DkvAPI/Set", {}, 500)).kind).toBe("lost");
  });

  test("no answer by the deadline is lost, after the deadline and its grace", async () => {
    const started = performance.now();
    const result = await rpc(endpoint(), "dkv.v1.DkvAPI/Set", { key: "hang" }, 200);
    expect(result.kind).toBe("lost");
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
  });

  test("a Connect error keeps its code and message", async () => {
    expect(await rpc(endpoint(), "dkv.v1.DkvAPI/Set", { key: "not-applied" }, 500)).toEqual({
      kind: "error",
      code: "unavailable",
      message: "leadership changed before the write committed; it was not applied, retry",
    });
  });
});

describe("the recorder", () => {
  test("records each operation with its times, status and what it learned", async () => {
    const recorder = new Recorder();
    const read = await recorder.perform(1, endpoint(), "k", { kind: "get" }, 500);
    const absent = await recorder.perform(1, endpoint(), "absent", { kind: "get" }, 500);
    const cas = await recorder.perform(2, endpoint(), "k", { kind: "cas", expected: "v1", value: "c2-0" }, 500);
    const casAbsent = await recorder.perform(2, endpoint(), "absent", { kind: "cas", expected: null, value: "c2-1" }, 500);
    const notApplied = await recorder.perform(3, endpoint(), "not-applied", { kind: "set", value: "c3-0" }, 500);
    const shutting = await recorder.perform(3, endpoint(), "shutting-down", { kind: "delete" }, 500);
    const timedOut = await recorder.perform(3, endpoint(), "timeout", { kind: "set", value: "c3-1" }, 500);

    expect(read).toMatchObject({ status: "ok", output: { kind: "get", value: "v1" } });
    expect(absent).toMatchObject({ status: "ok", output: { kind: "get", value: null } });
    // Operation 3 went as CompareAndSwap, operation 4 as Txn: both answers read alike.
    expect(cas).toMatchObject({ status: "ok", output: { kind: "cas", succeeded: false, previous: "other" } });
    expect(casAbsent).toMatchObject({ status: "ok", output: { kind: "cas", succeeded: false, previous: null } });
    expect(notApplied.status).toBe("fail");
    expect(shutting.status).toBe("unknown");
    expect(timedOut.status).toBe("unknown");
    expect(timedOut.error).toContain("deadline_exceeded");

    expect(recorder.ops.map((op) => op.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const op of recorder.ops) expect(op.completeMs).toBeGreaterThanOrEqual(op.invokeMs);
    for (let i = 1; i < recorder.ops.length; i++) expect(recorder.ops[i]!.invokeMs).toBeGreaterThanOrEqual(recorder.ops[i - 1]!.completeMs);
  });

  test("sends linearizable reads, value compares, version-0 compares for 'absent', and delete-CAS, as CompareAndSwap and as Txn", async () => {
    requests.length = 0;
    const recorder = new Recorder();
    await recorder.perform(1, endpoint(), "k", { kind: "get" }, 500);
    await recorder.perform(1, endpoint(), "k", { kind: "cas", expected: "a", value: "b" }, 500);
    await recorder.perform(1, endpoint(), "k", { kind: "cas", expected: null, value: "c" }, 500);
    await recorder.perform(1, endpoint(), "k", { kind: "cas", expected: "c", value: null }, 500);
    await recorder.perform(1, endpoint(), "k", { kind: "cas", expected: "d", value: null }, 500);
    // Every other compare-and-swap goes as a Txn (even operation ids).
    expect(requests.map((r) => r.method.split("/")[1])).toEqual(["Get", "Txn", "CompareAndSwap", "Txn", "CompareAndSwap"]);
    expect(requests.map((r) => r.body)).toEqual([
      { key: "k", consistency: "CONSISTENCY_LINEARIZABLE" },
      { compare: [{ key: "k", target: "TARGET_VALUE", value: b64("a") }], success: [{ put: { key: "k", value: b64("b") } }], failure: [{ get: { key: "k" } }] },
      { compare: { key: "k", target: "TARGET_VERSION", number: "0" }, key: "k", value: b64("c") },
      { compare: [{ key: "k", target: "TARGET_VALUE", value: b64("c") }], success: [{ delete: { key: "k" } }], failure: [{ get: { key: "k" } }] },
      { compare: { key: "k", target: "TARGET_VALUE", value: b64("d") }, key: "k", delete: true },
    ]);
  });
});
