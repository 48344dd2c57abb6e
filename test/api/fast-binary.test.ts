// Set's and Get's hand-written binary codecs against protobuf-es: the same bytes out, the
// same message in, and "not mine" (undefined) for every shape it leaves to
// protobuf-es. Random cases come from a seeded generator, so a failure
// repeats.
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Consistency, GetRequestSchema, GetResponseSchema, SetRequestSchema, SetResponseSchema, type SetRequest } from "../../src/gen/dkv/v1/kv_pb.js";
import { decodeGetRequest, decodeSetRequest, encodeGetResponse, encodeSetResponse } from "../../src/api/fast-binary.js";
import { createSeededPrng } from "../../src/server/prng.js";

const prng = createSeededPrng(20261207);
const pick = (n: number): number => prng.nextInt(n);

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = pick(256);
  return out;
}

function randomAscii(length: number): string {
  let text = "";
  for (let i = 0; i < length; i++) text += String.fromCharCode(pick(128));
  return text;
}

const UNICODE = ["é", "ключ", "键", "🔑", "\u0000", "\uFEFF"];
function randomText(length: number): string {
  let text = "";
  while (text.length < length) text += pick(4) === 0 ? UNICODE[pick(UNICODE.length)]! : String.fromCharCode(32 + pick(95));
  return text;
}

/** Lengths around the varint boundaries as well as small ones. */
function randomLength(): number {
  const sizes = [0, 1, 8, 16, 127, 128, 256, 300, 16_383, 16_384, 70_000];
  return pick(2) === 0 ? sizes[pick(sizes.length)]! : pick(2_000);
}

function randomUint64(): bigint {
  switch (pick(5)) {
    case 0:
      return 0n;
    case 1:
      return BigInt(pick(128));
    case 2:
      return BigInt(Number.MAX_SAFE_INTEGER) - BigInt(pick(3));
    default:
      return BigInt(pick(2 ** 31)) * BigInt(1 + pick(2 ** 16));
  }
}

function sameRequest(actual: SetRequest | undefined, expected: SetRequest): void {
  expect(actual).toBeDefined();
  expect(actual!.key).toBe(expected.key);
  expect(Buffer.from(actual!.value).equals(Buffer.from(expected.value))).toBe(true);
  expect(actual!.lease).toBe(expected.lease);
}

describe("SetRequest decoding", () => {
  test("reads what protobuf-es writes: ASCII keys, values of every size, leases below 2^49", () => {
    for (let i = 0; i < 500; i++) {
      const message = create(SetRequestSchema, {
        key: randomAscii(randomLength() % 3_000),
        value: randomBytes(randomLength()),
        lease: pick(3) === 0 ? 0n : BigInt(pick(2 ** 30)) * BigInt(1 + pick(2 ** 18)),
      });
      const wire = toBinary(SetRequestSchema, message);
      sameRequest(decodeSetRequest(wire), fromBinary(SetRequestSchema, wire));
    }
  });

  test("the value is a view into the body, as protobuf-es gives it (no copy)", () => {
    const wire = toBinary(SetRequestSchema, create(SetRequestSchema, { key: "k", value: new Uint8Array([1, 2, 3]) }));
    const decoded = decodeSetRequest(wire)!;
    expect(decoded.value.buffer).toBe(wire.buffer);
    expect([...decoded.value]).toEqual([1, 2, 3]);
  });

  test("fields in any order, and absent fields, decode as protobuf-es decodes them", () => {
    const cases = [
      [0x12, 0x01, 0x61, 0x0a, 0x01, 0x62], // value before key
      [0x18, 0x05, 0x0a, 0x01, 0x62], // lease first, no value
      [], // nothing: every field at its default
    ];
    for (const wire of cases.map((c) => new Uint8Array(c))) sameRequest(decodeSetRequest(wire), fromBinary(SetRequestSchema, wire));
  });

  test("leaves every other shape to protobuf-es", () => {
    const theirs: Array<[string, number[]]> = [
      ["unknown field", [0x0a, 0x01, 0x62, 0x20, 0x07]],
      ["key twice", [0x0a, 0x01, 0x62, 0x0a, 0x01, 0x63]],
      ["value twice", [0x12, 0x01, 0x62, 0x12, 0x01, 0x63]],
      ["lease twice", [0x18, 0x01, 0x18, 0x02]],
      ["non-ASCII key", [0x0a, 0x02, 0xc3, 0xa9]],
      ["long non-ASCII key", [0x0a, 0x22, ...new Array(33).fill(0x61), 0xff]],
      ["padded varint", [0x0a, 0x81, 0x00, 0x62]],
      ["lease of 2^49", [0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
      ["truncated length", [0x0a, 0x05, 0x62]],
      ["truncated varint", [0x18, 0x80]],
      ["key with the varint wire type", [0x08, 0x01]],
      ["two-byte tag", [0x8a, 0x01, 0x01, 0x62]],
    ];
    for (const [name, wire] of theirs) expect({ name, decoded: decodeSetRequest(new Uint8Array(wire)) }).toEqual({ name, decoded: undefined });
  });
});

describe("SetResponse encoding", () => {
  test("writes exactly protobuf-es's bytes: Unicode keys and member ids, zero fields left out, every value size", () => {
    for (let i = 0; i < 500; i++) {
      const message = create(SetResponseSchema, {
        header: { revision: randomUint64(), memberId: pick(5) === 0 ? "" : randomText(1 + pick(20)), raftTerm: randomUint64() },
        kv: {
          key: pick(10) === 0 ? "" : randomText(1 + (randomLength() % 500)),
          value: randomBytes(randomLength()),
          createRevision: randomUint64(),
          modRevision: randomUint64(),
          version: randomUint64(),
          lease: randomUint64(),
        },
      });
      const fast = encodeSetResponse(message);
      expect(fast).toBeDefined();
      expect(Buffer.from(fast!).equals(Buffer.from(toBinary(SetResponseSchema, message)))).toBe(true);
    }
  });

  test("leaves to protobuf-es: numbers past 2^53, a missing header or kv, unknown fields", () => {
    const base = () => create(SetResponseSchema, { header: { revision: 5n, memberId: "n1", raftTerm: 2n }, kv: { key: "k", value: new Uint8Array([1]), modRevision: 5n } });
    const huge = base();
    huge.kv!.modRevision = 2n ** 53n;
    const noHeader = base();
    noHeader.header = undefined;
    const noKv = base();
    noKv.kv = undefined;
    const unknown = base();
    unknown.kv!.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    for (const message of [huge, noHeader, noKv, unknown]) expect(encodeSetResponse(message)).toBeUndefined();
    expect(encodeSetResponse(base())).toBeDefined();
  });
});

describe("GetRequest decoding", () => {
  test("reads what protobuf-es writes: ASCII keys of every length, both consistencies", () => {
    for (let i = 0; i < 300; i++) {
      const wire = toBinary(GetRequestSchema, create(GetRequestSchema, { key: randomAscii(randomLength() % 3_000), consistency: pick(2) }));
      const expected = fromBinary(GetRequestSchema, wire);
      const decoded = decodeGetRequest(wire);
      expect(decoded).toBeDefined();
      expect({ key: decoded!.key, consistency: decoded!.consistency }).toEqual({ key: expected.key, consistency: expected.consistency });
    }
  });

  test("leaves every other shape to protobuf-es (an unknown consistency number too: the service refuses it)", () => {
    const theirs: Array<[string, number[]]> = [
      ["consistency 2", [0x0a, 0x01, 0x62, 0x10, 0x02]],
      ["negative consistency", [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
      ["key twice", [0x0a, 0x01, 0x62, 0x0a, 0x01, 0x63]],
      ["non-ASCII key", [0x0a, 0x02, 0xc3, 0xa9]],
      ["unknown field", [0x0a, 0x01, 0x62, 0x18, 0x01]],
      ["truncated key", [0x0a, 0x03, 0x62]],
    ];
    for (const [name, wire] of theirs) expect({ name, decoded: decodeGetRequest(new Uint8Array(wire)) }).toEqual({ name, decoded: undefined });
    expect(decodeGetRequest(new Uint8Array([0x10, 0x01]))).toEqual({ $typeName: "dkv.v1.GetRequest", key: "", consistency: Consistency.SERIALIZABLE });
  });
});

describe("GetResponse encoding", () => {
  test("writes exactly protobuf-es's bytes: found or not, with or without kv, every value size", () => {
    for (let i = 0; i < 300; i++) {
      const value = randomBytes(randomLength());
      const found = pick(3) > 0;
      const message = create(GetResponseSchema, {
        found,
        value: found ? value : new Uint8Array(0),
        header: { revision: randomUint64(), memberId: randomText(1 + pick(10)), raftTerm: randomUint64() },
        ...(found ? { kv: { key: randomText(1 + pick(100)), value, createRevision: randomUint64(), modRevision: randomUint64(), version: randomUint64(), lease: randomUint64() } } : {}),
      });
      const fast = encodeGetResponse(message);
      expect(fast).toBeDefined();
      expect(Buffer.from(fast!).equals(Buffer.from(toBinary(GetResponseSchema, message)))).toBe(true);
    }
  });

  test("leaves to protobuf-es: numbers past 2^53, a missing header, unknown fields", () => {
    const base = () => create(GetResponseSchema, { found: true, value: new Uint8Array([1]), kv: { key: "k", value: new Uint8Array([1]), version: 1n }, header: { revision: 5n } });
    const huge = base();
    huge.kv!.version = 2n ** 60n;
    const noHeader = base();
    noHeader.header = undefined;
    const unknown = base();
    unknown.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    for (const message of [huge, noHeader, unknown]) expect(encodeGetResponse(message)).toBeUndefined();
    expect(encodeGetResponse(base())).toBeDefined();
  });
});
