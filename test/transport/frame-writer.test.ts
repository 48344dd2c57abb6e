// FrameWriter: batching, partial writes, and a queue that never grows past its limits.
import { describe, expect, test } from "bun:test";
import { type ByteSink, FrameWriter, type FrameWriterLimits } from "../../src/transport/frame-writer";

/** A socket stand-in: accepts up to `budget` bytes per write (Infinity = all), records writes. */
class FakeSink implements ByteSink {
  writes: Uint8Array[] = [];
  received: number[] = [];
  constructor(public budget = Number.POSITIVE_INFINITY) {}
  write(data: Uint8Array): number {
    const n = Math.min(data.length, this.budget);
    this.writes.push(data);
    for (let i = 0; i < n; i++) this.received.push(data[i]!);
    return n;
  }
}

const LIMITS: FrameWriterLimits = { maxQueuedFrames: 100, maxQueuedBytes: 10_000, maxWriteBatchBytes: 1000 };

function frames(count: number, size = 10): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(size).fill(i & 0xff));
}

function writer(limits = LIMITS) {
  const drops: [number, string][] = [];
  return { w: new FrameWriter(limits, (n, reason) => drops.push([n, reason])), drops };
}

describe("FrameWriter", () => {
  test("frames queued together leave in one write", () => {
    const { w } = writer();
    const sink = new FakeSink();
    w.attach(sink);
    for (const f of frames(50)) w.enqueue(f);
    expect(w.flush()).toEqual({ framesWritten: 50, bytesWritten: 500, partialWrites: 0 });
    expect(sink.writes.length).toBe(1);
    expect(sink.received).toEqual(frames(50).flatMap((f) => [...f]));
  });

  test("batches stop at the batch size; a single frame is written without a copy", () => {
    const { w } = writer({ ...LIMITS, maxQueuedFrames: 1000 });
    const sink = new FakeSink();
    w.attach(sink);
    const big = new Uint8Array(3000).fill(7);
    for (const f of frames(150)) w.enqueue(f);
    w.enqueue(big);
    w.flush();
    expect(sink.writes.map((x) => x.length)).toEqual([1000, 500, 3000]);
    expect(sink.writes[2]).toBe(big);
  });

  test("a partial write is resumed from where it stopped, in order", () => {
    const { w } = writer();
    const sink = new FakeSink(7);
    w.attach(sink);
    for (const f of frames(20)) w.enqueue(f);
    let rounds = 0;
    while (w.hasPendingWrite) {
      const result = w.flush(); // what a drain event does
      rounds++;
      expect(result.bytesWritten).toBeLessThanOrEqual(7);
      if (rounds > 1000) throw new Error("writer never finished");
    }
    expect(sink.received).toEqual(frames(20).flatMap((f) => [...f]));
  });

  test("a socket that takes nothing keeps everything queued", () => {
    const { w } = writer();
    const sink = new FakeSink(0);
    w.attach(sink);
    w.enqueue(new Uint8Array(5));
    expect(w.flush()).toEqual({ framesWritten: 0, bytesWritten: 0, partialWrites: 1 });
    expect(w.hasPendingWrite).toBe(true);
  });

  test("a full queue drops its oldest frames and counts them", () => {
    const { w, drops } = writer({ maxQueuedFrames: 10, maxQueuedBytes: 10_000, maxWriteBatchBytes: 1000 });
    for (const f of frames(25)) expect(w.enqueue(f)).toBe(true);
    expect(w.queuedFrames).toBe(10);
    expect(drops.reduce((n, [count]) => n + count, 0)).toBe(15);
    const sink = new FakeSink();
    w.attach(sink);
    w.flush();
    // The newest ten survive.
    expect(sink.received).toEqual(frames(25).slice(15).flatMap((f) => [...f]));
  });

  test("the byte limit holds too, and a frame larger than it is refused", () => {
    const { w, drops } = writer({ maxQueuedFrames: 1000, maxQueuedBytes: 100, maxWriteBatchBytes: 1000 });
    for (const f of frames(30)) w.enqueue(f);
    expect(w.queuedBytes).toBeLessThanOrEqual(100);
    expect(w.queuedFrames).toBe(10);
    expect(w.enqueue(new Uint8Array(101))).toBe(false);
    expect(drops.at(-1)?.[1]).toContain("exceeds the queue limit");
  });

  test("detaching mid-write loses that batch (counted) and keeps the rest queued", () => {
    const { w, drops } = writer({ maxQueuedFrames: 100, maxQueuedBytes: 10_000, maxWriteBatchBytes: 50 });
    const sink = new FakeSink(15);
    w.attach(sink);
    for (const f of frames(10)) w.enqueue(f);
    w.flush(); // batch of 5 frames, 15 of 50 bytes written
    w.detach();
    expect(drops).toEqual([[5, "connection closed mid-write"]]);
    expect(w.queuedFrames).toBe(5);
    const next = new FakeSink();
    w.attach(next);
    w.flush();
    expect(next.received).toEqual(frames(10).slice(5).flatMap((f) => [...f]));
  });

  test("clear drops everything and says why", () => {
    const { w, drops } = writer();
    for (const f of frames(3)) w.enqueue(f);
    w.clear("peer removed");
    expect(drops).toEqual([[3, "peer removed"]]);
    expect(w.queuedFrames).toBe(0);
    expect(w.queuedBytes).toBe(0);
  });

  test("a long stream through a small queue keeps memory bounded (compaction)", () => {
    const { w } = writer({ maxQueuedFrames: 5000, maxQueuedBytes: 1 << 20, maxWriteBatchBytes: 64 });
    const sink = new FakeSink();
    w.attach(sink);
    for (let round = 0; round < 20; round++) {
      for (const f of frames(3000, 4)) w.enqueue(f);
      w.flush();
      expect(w.queuedFrames).toBe(0);
    }
    expect(sink.received.length).toBe(20 * 3000 * 4);
  });
});
