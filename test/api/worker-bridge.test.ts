// The API worker's life as the raft thread sees it: an end it did not ask for is reported, a stop is not.
import { expect, test } from "bun:test";
import { startApiWorker, type WorkerHandlers } from "../../src/api/worker-bridge.js";
import type { WorkerConfig } from "../../src/api/worker-protocol.js";

const CONFIG: WorkerConfig = { hostname: "127.0.0.1", port: 0, tls: undefined, maxRequestBodySize: 1 << 20, readMaxBytes: 1 << 20, idleTimeout: 10, unaryPaths: [] };

function handlers(exits: string[]): WorkerHandlers {
  return { unary: [], fetch: async () => new Response("forwarded"), log: () => {}, onUnhandled: () => {}, onExit: (reason) => exits.push(reason) };
}

async function until(condition: () => boolean, deadlineMs = 5_000): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
}

test("a worker that ends by itself is reported once, and its port is closed", async () => {
  const exits: string[] = [];
  const worker = await startApiWorker(CONFIG, handlers(exits));
  const url = `http://127.0.0.1:${worker.port}/anything`;
  try {
    expect(await (await fetch(url)).text()).toBe("forwarded");
    worker.thread.terminate();
    await until(() => exits.length > 0);
    expect(exits).toEqual([expect.stringContaining("the API worker exited")]);
    await expect(fetch(url)).rejects.toThrow();
  } finally {
    await worker.stop(0, () => {});
  }
});

test("stop() ends the worker without reporting a failure", async () => {
  const exits: string[] = [];
  const worker = await startApiWorker(CONFIG, handlers(exits));
  await worker.stop(100, () => {});
  await Bun.sleep(50);
  expect(exits).toEqual([]);
  await expect(fetch(`http://127.0.0.1:${worker.port}/`)).rejects.toThrow();
});
