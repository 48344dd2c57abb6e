// The raft message codecs: the generated-protobuf conversion (codec.ts) and
// the hand-written fast path (raft-wire.ts) agree with each other and with
// protobuf-es byte for byte, for seeded random messages.
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ForwardRequestSchema,
  ForwardResponseSchema,
  RemovedSchema,
  MessageSchema,
  PeerFrameSchema,
} from "../../src/gen/dkv/raft/v1/raft_pb";
import type { Entry, Message } from "../../src/raft/types";
import { CodecError, protoToRaft, raftFrame, raftToProto } from "../../src/transport/codec";
import { decodeFrame, encodeFrame, frameFromPeerFrame } from "../../src/transport/frame-codec";
import { WireError } from "../../src/transport/wire";

/** mulberry32: a tiny seeded PRNG so every failure replays. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  /** Mostly small numbers, sometimes 0, sometimes near 2^53. */
  const uint = () => {
    const pick = int(6);
    if (pick === 0) return 0;
    if (pick === 1) return Number.MAX_SAFE_INTEGER - int(1000);
    if (pick === 2) return 2 ** 31 + int(2 ** 20);
    return int(1_000_000);
  };
  const bytes = (max: number) => Uint8Array.from({ length: int(max + 1) }, () => int(256));
  const id = () => ["", "n1", "dkv-2", "ünïcode-3", "x".repeat(40)][int(5)]!;
  return { next, int, uint, bytes, id };
}

function randomMessage(seed: number): Message {
  const r = prng(seed);
  const entries: Entry[] = Array.from({ length: r.int(5) }, () => ({
    term: r.uint(),
    index: r.uint(),
    type: r.int(2),
    data: r.bytes(200),
  }));
  const message: Message = {
    type: r.int(15),
    from: r.id(),
    to: r.id(),
    term: r.uint(),
    logTerm: r.uint(),
    index: r.uint(),
    entries,
    commit: r.uint(),
    reject: r.int(2) === 1,
    rejectHint: r.uint(),
    context: r.bytes(20),
    snapshotOffset: r.uint(),
    snapshotData: r.bytes(300),
    snapshotDone: r.int(2) === 1,
  };
  if (r.int(3) === 0) {
    message.snapshot = {
      index: r.uint(),
      term: r.uint(),
      confState: { voters: Array.from({ length: r.int(4) }, r.id), learners: Array.from({ length: r.int(3) }, r.id) },
      sizeBytes: r.uint(),
    };
  }
  return message;
}

/** Comparable form: byte fields (Uint8Array or Buffer views) as number arrays. */
function plain(message: Message): unknown {
  return JSON.parse(
    JSON.stringify(message, function (this: Record<string, unknown>, key, value) {
      const raw = this[key];
      return raw instanceof Uint8Array ? [...raw] : value;
    }),
  );
}

const SEEDS = Array.from({ length: 300 }, (_, i) => i + 1);

describe("raft message codec", () => {
  test("raftToProto then protoToRaft returns the same message", () => {
    for (const seed of SEEDS) {
      const message = randomMessage(seed);
      expect(plain(protoToRaft(raftToProto(message))), `seed ${seed}`).toEqual(plain(message));
    }
  });

  test("the fast encoder writes exactly the bytes protobuf-es writes", () => {
    for (const seed of SEEDS) {
      const message = randomMessage(seed);
      const fast = encodeFrame({ case: "raft", value: message });
      const reference = toBinary(PeerFrameSchema, raftFrame(message));
      expect(new DataView(fast.buffer, fast.byteOffset).getUint32(0), `seed ${seed}`).toBe(reference.length);
      expect([...fast.subarray(4)], `seed ${seed}`).toEqual([...reference]);
    }
  });

  test("the fast decoder reads what protobuf-es writes, and protobuf-es reads what it writes", () => {
    for (const seed of SEEDS) {
      const message = randomMessage(seed);
      const decoded = decodeFrame(toBinary(PeerFrameSchema, raftFrame(message)));
      expect(decoded?.case).toBe("raft");
      expect(plain(decoded!.value as Message), `seed ${seed}`).toEqual(plain(message));
      const fast = encodeFrame({ case: "raft", value: message }).subarray(4);
      const viaProtobuf = frameFromPeerFrame(fromBinary(PeerFrameSchema, fast));
      expect(plain(viaProtobuf!.value as Message), `seed ${seed}`).toEqual(plain(message));
    }
  });

  test("entry data comes out as a view of the frame, not a copy", () => {
    const message = randomMessage(7);
    message.entries = [{ term: 1, index: 2, type: 0, data: new Uint8Array(64).fill(9) }];
    const body = encodeFrame({ case: "raft", value: message }).subarray(4);
    const decoded = decodeFrame(body)!.value as Message;
    expect(decoded.entries[0]!.data.buffer).toBe(body.buffer);
  });

  test("unknown fields from a newer peer are skipped", () => {
    const known = toBinary(MessageSchema, raftToProto(randomMessage(11)));
    // field 99 varint, field 100 length-delimited, field 101 fixed32, field 102 fixed64
    const extra = [0x98, 0x06, 0x7f, 0xa2, 0x06, 0x02, 0xaa, 0xbb, 0xad, 0x06, 1, 2, 3, 4, 0xb1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8];
    const message = Uint8Array.from([...known, ...extra]);
    const frame = Uint8Array.from([0x0a, ...varint(message.length), ...message, 0xf8, 0x07, 0x01]);
    expect(plain(decodeFrame(frame)!.value as Message)).toEqual(plain(randomMessage(11)));
  });

  test("numbers beyond 2^53 are refused, not rounded", () => {
    const proto = raftToProto(randomMessage(3));
    proto.term = 2n ** 60n;
    expect(() => protoToRaft(proto)).toThrow(CodecError);
    expect(() => decodeFrame(toBinary(PeerFrameSchema, { ...raftFrame(randomMessage(3)), kind: { case: "raft", value: proto } }))).toThrow(
      WireError,
    );
  });

  test("an invalid number in a raft message is refused by the encoder", () => {
    const message = randomMessage(5);
    message.term = -1;
    expect(() => encodeFrame({ case: "raft", value: message })).toThrow(CodecError);
    message.term = 1.5;
    expect(() => encodeFrame({ case: "raft", value: message })).toThrow(CodecError);
  });

  test("garbage is a WireError, never a crash or a silent success with wrong types", () => {
    const r = prng(99);
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const junk = r.bytes(64);
      try {
        decodeFrame(junk);
      } catch (error) {
        expect(error instanceof WireError || (error as Error).name === "Error" || error instanceof CodecError).toBe(true);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(1000);
    // A known field with the wrong wire type.
    expect(() => decodeFrame(Uint8Array.of(0x08, 0x01))).toThrow("wire type 0, expected 2");
    // Truncated length.
    expect(() => decodeFrame(Uint8Array.of(0x0a, 0x05, 0x08))).toThrow(WireError);
  });

  test("forwarded requests and answers round trip", () => {
    const request = create(ForwardRequestSchema, { requestId: 42n, command: Uint8Array.of(1, 2, 3), kind: "propose", timeoutMs: 500 });
    const response = create(ForwardResponseSchema, { requestId: 42n, errorCode: "", result: Uint8Array.of(9), index: 77n });
    const decodedRequest = decodeFrame(encodeFrame({ case: "forwardRequest", value: request }).subarray(4));
    const decodedResponse = decodeFrame(encodeFrame({ case: "forwardResponse", value: response }).subarray(4));
    expect(decodedRequest).toEqual({ case: "forwardRequest", value: request });
    expect(decodedResponse).toEqual({ case: "forwardResponse", value: response });
    const removed = create(RemovedSchema, { nodeId: "n3" });
    expect(decodeFrame(encodeFrame({ case: "removed", value: removed }).subarray(4))).toEqual({ case: "removed", value: removed });
  });

  test("a frame of a kind this build does not know decodes to undefined", () => {
    expect(decodeFrame(Uint8Array.of(0x32, 0x00))).toBeUndefined(); // field 6, empty
    expect(decodeFrame(new Uint8Array(0))).toBeUndefined();
  });
});

function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}
