// Throughput over mutual TLS on loopback, both nodes in this process (so one
// core does the sending, the TLS on both ends and the receiving). Prints the
// figures; asserts only a floor far below them so a loaded CI machine passes.
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import type { Message } from "../../src/raft/types";
import { type CertFixture, Fleet, Inbox, mintCerts, raft, raftMessage } from "./helpers";

let certs: CertFixture;
const fleet = new Fleet();
beforeAll(async () => {
  certs = await mintCerts();
});
afterEach(() => fleet.cleanup());
afterAll(() => certs.remove());

const BATCH_FRAMES = 1000;
const WINDOW_FRAMES = 3000;

async function measure(frameCount: number, make: (i: number) => Message) {
  let received = 0;
  const inbox = new Inbox();
  const b = fleet.make("n2", inbox, { tls: certs.peer("n2") });
  inbox.onItem = () => {
    received++;
  };
  const a = fleet.make("n1", new Inbox(), { tls: certs.peer("n1") });
  a.transport.setPeerAddress("n2", `127.0.0.1:${b.transport.listen({ host: "127.0.0.1", port: 0 }).port}`);
  // Warm up: connect and handshake outside the timed part.
  a.transport.send("n2", raft(make(0)));
  while (received < 1) await new Promise((resolve) => setImmediate(resolve));
  inbox.items = [];
  received = 0;

  const start = performance.now();
  let sent = 0;
  while (sent < frameCount) {
    for (let i = 0; i < BATCH_FRAMES && sent < frameCount; i++, sent++) a.transport.send("n2", raft(make(sent)));
    inbox.items.length = 0; // keep memory flat
    while (sent - received > WINDOW_FRAMES) await new Promise((resolve) => setImmediate(resolve));
  }
  while (received < frameCount) await new Promise((resolve) => setImmediate(resolve));
  const seconds = (performance.now() - start) / 1000;
  const stats = a.transport.stats();
  return { framesPerSecond: frameCount / seconds, megabytesPerSecond: stats.bytesSent / seconds / 1e6, dropped: stats.framesDropped };
}

test("small raft frames (heartbeat-sized) over mutual TLS", async () => {
  const result = await measure(200_000, (i) => raftMessage("n1", "n2", i));
  console.log(`mTLS loopback, heartbeat-sized frames: ${Math.round(result.framesPerSecond)} frames/s (${result.megabytesPerSecond.toFixed(1)} MB/s)`);
  expect(result.dropped).toBe(0);
  expect(result.framesPerSecond).toBeGreaterThan(10_000);
}, 60_000);

test("append frames of 64 entries x 100 bytes over mutual TLS", async () => {
  const entries = Array.from({ length: 64 }, (_, i) => ({ term: 3, index: i + 1, type: 0, data: new Uint8Array(100).fill(i) }));
  const result = await measure(20_000, (i) => ({ ...raftMessage("n1", "n2", i), entries }));
  console.log(
    `mTLS loopback, 64x100-byte appends: ${Math.round(result.framesPerSecond)} frames/s = ${Math.round(result.framesPerSecond * 64)} entries/s (${result.megabytesPerSecond.toFixed(1)} MB/s)`,
  );
  expect(result.dropped).toBe(0);
  expect(result.framesPerSecond).toBeGreaterThan(1_000);
}, 60_000);
