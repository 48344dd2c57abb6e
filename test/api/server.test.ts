// Starting and stopping the API server: addresses, bound ports, start-up
// errors, and a stop that neither hangs nor leaves calls waiting forever.
import { afterEach, describe, expect, test } from "bun:test";
import { ApiServerError, startApiServer } from "../../src/api/index.js";
import { parseListenAddress } from "../../src/api/options.js";
import { ServerPool, bytes, clientsFor } from "./harness.js";
import { MemoryNode } from "./memory-node.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

describe("listen addresses", () => {
  test("host:port, [v6]:port and port 0 parse", () => {
    expect(parseListenAddress("listenAddress", "127.0.0.1:2379")).toEqual({ hostname: "127.0.0.1", port: 2379 });
    expect(parseListenAddress("listenAddress", "[::1]:0")).toEqual({ hostname: "::1", port: 0 });
    expect(parseListenAddress("listenAddress", "dkv-1.dkv.svc:2379")).toEqual({ hostname: "dkv-1.dkv.svc", port: 2379 });
  });

  for (const bad of ["2379", "127.0.0.1", "127.0.0.1:", ":2379", "127.0.0.1:99999", "::1:2379", "host:port", "http://x:1"]) {
    test(`"${bad}" is refused with an example of the right form`, () => {
      expect(() => parseListenAddress("listenAddress", bad)).toThrow(`listenAddress ${JSON.stringify(bad)} is not host:port (e.g. 127.0.0.1:2379`);
    });
  }

  test("port 0 reports the bound port and hostname", async () => {
    const { api } = await pool.start();
    expect(api.port).toBeGreaterThan(0);
    expect(api.hostname).toBe("127.0.0.1");
    expect(api.url).toBe(`http://127.0.0.1:${api.port}`);
    expect(api.metrics).toBeUndefined();
  });

  test.each([true, false])("a port in use is a one-line error naming the address (apiWorker %p)", async (apiWorker) => {
    const { api } = await pool.start();
    let error: unknown;
    try {
      // If it wrongly starts, stop it so the test run does not keep a listener.
      void (await startApiServer({ node: new MemoryNode(), listenAddress: `127.0.0.1:${api.port}`, apiWorker })).stop();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiServerError);
    expect((error as Error).message).toStartWith(`cannot serve the client API on listenAddress 127.0.0.1:${api.port}: `);
    expect((error as Error).message).not.toContain("\n");
  });

  test("a bad metrics address fails before anything listens", async () => {
    await expect(startApiServer({ node: new MemoryNode(), listenAddress: "127.0.0.1:0", metricsListenAddress: "nope" })).rejects.toThrow(
      'metricsListenAddress "nope" is not host:port',
    );
  });

  test("options out of range are refused", async () => {
    await expect(startApiServer({ node: new MemoryNode(), listenAddress: "127.0.0.1:0", maxRequestBytes: 0 })).rejects.toThrow(
      "maxRequestBytes must be a positive integer",
    );
  });
});

for (const apiWorker of [true, false]) {
  describe(`stop${apiWorker ? "" : ", serving on the raft thread"}`, () => {
    test("closes the port, even with idle keep-alive connections open", async () => {
      const node = new MemoryNode();
      const api = await startApiServer({ node, listenAddress: "127.0.0.1:0", metricsListenAddress: "127.0.0.1:0", log: () => {}, apiWorker });
      try {
        const { dkv } = clientsFor("connect-binary", api.url);
        await dkv.set({ key: "k", value: bytes("v") });
        const started = performance.now();
        await api.stop();
        expect(performance.now() - started).toBeLessThan(3000);
        await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
        await expect(fetch(`${api.metrics!.url}/healthz`)).rejects.toThrow();
      } finally {
        await api.stop(); // a second stop is harmless (and this one runs even after a failed assertion)
      }
    });

    test("cancels calls still waiting after the grace period", async () => {
      const { api, node } = await pool.start({ stopGraceMs: 100, apiWorker });
      node.hang.set("get", { ignoreSignal: false });
      const { dkv } = clientsFor("connect-binary", api.url);
      const call = dkv.get({ key: "k" }).then(
        () => "answered",
        (error: unknown) => error,
      );
      for (let i = 0; i < 100 && node.signals.length === 0; i++) await Bun.sleep(10);
      const started = performance.now();
      await api.stop();
      expect(performance.now() - started).toBeLessThan(3000);
      expect(await call).not.toBe("answered");
      expect(node.signals[0]?.aborted).toBe(true);
    });
  });
}
