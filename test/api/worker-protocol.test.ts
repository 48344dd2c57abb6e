// The packed records between the API worker and the raft thread: what goes in comes out.
import { describe, expect, test } from "bun:test";
import { Packer, unpackAnswers, unpackCalls, type PackedAnswer, type PackedCall } from "../../src/api/worker-protocol.js";

const call = (id: number, overrides: Partial<PackedCall> = {}): PackedCall => ({
  id,
  route: id % 7,
  contentType: "application/proto",
  timeout: null,
  protocolVersion: "1",
  authorization: null,
  contentLength: "3",
  overLimit: false,
  body: new Uint8Array([1, 2, 3]),
  ...overrides,
});

describe("worker protocol", () => {
  test("calls round-trip, nulls, empty and non-ASCII strings, empty and large bodies included", () => {
    const large = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const calls = [
      call(1),
      call(2, { contentType: null, timeout: "", protocolVersion: null, contentLength: null, body: new Uint8Array(0) }),
      call(0xffffffff, { contentType: "application/json; charset=utf-8", timeout: "250", contentLength: String(large.length), body: large }),
      call(4, { protocolVersion: "é✓", overLimit: true, body: new Uint8Array(0) }),
      call(5, { authorization: `Basic ${"x".repeat(4000)}` }),
    ];
    const packer = new Packer();
    for (const c of calls) packer.call(c);
    expect(packer.count).toBe(5);
    const packed = packer.take();
    expect(packer.count).toBe(0);
    const unpacked = unpackCalls(packed);
    expect(unpacked.map((c) => ({ ...c, body: [...c.body.subarray(0, 8)] }))).toEqual(calls.map((c) => ({ ...c, body: [...c.body.subarray(0, 8)] })));
    expect(Buffer.compare(Buffer.from(unpacked[2]!.body), Buffer.from(large))).toBe(0);
  });

  test("answers round-trip, with and without extra headers; the packer starts over after take()", () => {
    const answers: PackedAnswer[] = [
      { id: 9, status: 200, contentType: "application/proto", headers: null, body: new Uint8Array([7]) },
      { id: 10, status: 503, contentType: "application/json", headers: JSON.stringify([["x-why", "leader moved"]]), body: new TextEncoder().encode('{"code":"unavailable"}') },
    ];
    const packer = new Packer();
    packer.answer(answers[0]!);
    packer.take();
    for (const a of answers) packer.answer(a);
    const unpacked = unpackAnswers(packer.take());
    expect(unpacked.map((a) => ({ ...a, body: [...a.body] }))).toEqual(answers.map((a) => ({ ...a, body: [...a.body] })));
  });

  test("an empty batch unpacks to nothing", () => {
    expect(unpackCalls(new Packer().take())).toEqual([]);
    expect(unpackAnswers(new Uint8Array(0))).toEqual([]);
  });
});
