// FrameDecoder: whole frames out of arbitrary read chunks, and a refusal of
// oversized lengths before anything is buffered for them.
import { describe, expect, test } from "bun:test";
import { FrameDecoder, FrameTooLargeError, writeFrameHeader } from "../../src/transport/framing";

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  writeFrameHeader(out, body.length);
  out.set(body, 4);
  return out;
}

function bodies(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => Uint8Array.from({ length: (i * 37) % 300 }, (_, j) => (i + j) & 0xff));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function decodeAll(decoder: FrameDecoder, chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const chunk of chunks) decoder.push(chunk, (body) => out.push(body.slice()));
  return out;
}

describe("FrameDecoder", () => {
  test("many frames in one chunk come out whole and in order, as views of the chunk", () => {
    const input = bodies(50);
    const stream = concat(input.map(frame));
    const views: Uint8Array[] = [];
    new FrameDecoder(1 << 20).push(stream, (body) => views.push(body));
    expect(views.map((v) => [...v])).toEqual(input.map((b) => [...b]));
    // No copy when a frame sits inside one read.
    expect(views.every((v) => v.buffer === stream.buffer)).toBe(true);
  });

  test("frames split at every possible byte boundary are reassembled", () => {
    const input = bodies(6);
    const stream = concat(input.map(frame));
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder(1 << 20);
      const out = decodeAll(decoder, [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(out.map((b) => [...b]), `cut at ${cut}`).toEqual(input.map((b) => [...b]));
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  test("one byte at a time works (header split too)", () => {
    const input = bodies(5);
    const stream = concat(input.map(frame));
    const chunks = Array.from(stream, (byte) => Uint8Array.of(byte));
    expect(decodeAll(new FrameDecoder(1 << 20), chunks).map((b) => [...b])).toEqual(input.map((b) => [...b]));
  });

  test("an empty body is a frame", () => {
    expect(decodeAll(new FrameDecoder(10), [frame(new Uint8Array(0))])).toEqual([new Uint8Array(0)]);
  });

  test("a length over the limit is refused at once, after the frames before it", () => {
    const decoder = new FrameDecoder(1000);
    const good = frame(new Uint8Array(10).fill(1));
    const header = new Uint8Array(4);
    writeFrameHeader(header, 1001);
    const seen: number[] = [];
    let error: unknown;
    try {
      decoder.push(concat([good, header]), (body) => seen.push(body.length));
    } catch (e) {
      error = e;
    }
    expect(seen).toEqual([10]);
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect((error as FrameTooLargeError).message).toBe("frame of 1001 bytes exceeds the limit of 1000 bytes");
    expect(decoder.bufferedBytes).toBe(0);
  });

  test("the largest 32-bit length is refused without allocating", () => {
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    expect(() => decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3), () => {})).toThrow(
      "frame of 4294967295 bytes exceeds the limit of 67108864 bytes",
    );
  });

  test("a frame spread over reads is assembled in one buffer of its size", () => {
    const body = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const stream = frame(body);
    const decoder = new FrameDecoder(1 << 20);
    const out: Uint8Array[] = [];
    for (let offset = 0; offset < stream.length; offset += 4096) {
      decoder.push(stream.subarray(offset, offset + 4096), (b) => out.push(b));
      if (offset + 4096 < stream.length) expect(decoder.bufferedBytes).toBe(Math.min(offset + 4096, stream.length) - 4);
    }
    expect(out.length).toBe(1);
    expect(out[0]!.buffer.byteLength).toBe(100_000);
    expect(Buffer.compare(Buffer.from(out[0]!), Buffer.from(body))).toBe(0);
  });
});
