// The hand-written put command codec against protobuf-es: the same bytes out,
// the same command in, and undefined for everything it leaves to protobuf-es.
// Random cases come from a seeded generator, so a failure repeats.
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CommandSchema, type Command } from "../../src/gen/dkv/raft/v1/command_pb";
import { decodePutCommand, encodePutCommand } from "../../src/storage/put-command-wire";
import { createSeededPrng } from "../../src/server/prng";

const prng = createSeededPrng(71207);
const pick = (n: number): number => prng.nextInt(n);

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = pick(256);
  return out;
}

function randomKey(ascii: boolean): string {
  const length = 1 + (pick(2) === 0 ? pick(16) : pick(3_000));
  let key = "";
  while (key.length < length) key += ascii || pick(4) > 0 ? String.fromCharCode(pick(128)) : ["é", "键", "🔑"][pick(3)];
  return key;
}

function randomLength(): number {
  const sizes = [0, 1, 127, 128, 256, 16_383, 16_384, 100_000];
  return pick(2) === 0 ? sizes[pick(sizes.length)]! : pick(1_000);
}

function randomLease(): number {
  return pick(3) === 0 ? 0 : pick(2) === 0 ? 1 + pick(1_000) : Number.MAX_SAFE_INTEGER - pick(1_000);
}

function putCommand(key: string, value: Uint8Array, lease: number): Command {
  return create(CommandSchema, { op: { case: "put", value: { key, value, lease: BigInt(lease) } } });
}

function samePut(actual: Command | undefined, expected: Command): void {
  expect(actual?.op.case).toBe("put");
  expect(expected.op.case).toBe("put");
  if (actual?.op.case !== "put" || expected.op.case !== "put") return;
  expect(actual.op.value.key).toBe(expected.op.value.key);
  expect(Buffer.from(actual.op.value.value).equals(Buffer.from(expected.op.value.value))).toBe(true);
  expect(actual.op.value.lease).toBe(expected.op.value.lease);
  expect(actual.clientId).toBe(expected.clientId);
  expect(actual.requestId).toBe(expected.requestId);
}

describe("put command encoding", () => {
  test("writes exactly protobuf-es's bytes for any well-formed key, value size and lease up to 2^53", () => {
    for (let i = 0; i < 400; i++) {
      const key = randomKey(pick(2) === 0);
      const value = randomBytes(randomLength());
      const lease = randomLease();
      const fast = encodePutCommand(key, value, lease);
      expect(fast).toBeDefined();
      expect(Buffer.from(fast!).equals(Buffer.from(toBinary(CommandSchema, putCommand(key, value, lease))))).toBe(true);
    }
  });

  test("leaves ill-formed keys and leases it cannot write exactly to protobuf-es", () => {
    expect(encodePutCommand("a\uD800b", new Uint8Array(1), 0)).toBeUndefined();
    expect(encodePutCommand("k", new Uint8Array(1), 2 ** 53)).toBeUndefined();
    expect(encodePutCommand("k", new Uint8Array(1), -1)).toBeUndefined();
    expect(encodePutCommand("k", new Uint8Array(1), 1.5)).toBeUndefined();
  });
});

describe("put command decoding", () => {
  test("reads what protobuf-es writes: ASCII keys, every value size, leases below 2^49", () => {
    for (let i = 0; i < 400; i++) {
      const lease = pick(3) === 0 ? 0 : pick(2 ** 30) * (1 + pick(2 ** 18));
      const wire = toBinary(CommandSchema, putCommand(randomKey(true), randomBytes(randomLength()), lease));
      samePut(decodePutCommand(wire), fromBinary(CommandSchema, wire));
    }
  });

  test("an empty put decodes as protobuf-es decodes it (apply then refuses its empty key)", () => {
    const wire = toBinary(CommandSchema, create(CommandSchema, { op: { case: "put", value: {} } }));
    samePut(decodePutCommand(wire), fromBinary(CommandSchema, wire));
  });

  test("the value is a view into the entry's bytes, as protobuf-es gives it", () => {
    const wire = toBinary(CommandSchema, putCommand("k", new Uint8Array([7, 8]), 0));
    const decoded = decodePutCommand(wire);
    expect(decoded?.op.case === "put" && decoded.op.value.value.buffer === wire.buffer).toBe(true);
  });

  test("leaves every other command and shape to protobuf-es", () => {
    const theirs: Array<[string, Uint8Array]> = [
      ["delete", toBinary(CommandSchema, create(CommandSchema, { op: { case: "delete", value: { key: "k" } } }))],
      ["lease grant", toBinary(CommandSchema, create(CommandSchema, { op: { case: "leaseGrant", value: { id: 5n, ttlSeconds: 10n } } }))],
      ["put with a client id", toBinary(CommandSchema, create(CommandSchema, { op: { case: "put", value: { key: "k" } }, clientId: "c", requestId: 3n }))],
      ["non-ASCII key", toBinary(CommandSchema, putCommand("é", new Uint8Array(1), 0))],
      ["long non-ASCII key", toBinary(CommandSchema, putCommand("a".repeat(40) + "é", new Uint8Array(1), 0))],
      ["lease of 2^50", toBinary(CommandSchema, putCommand("k", new Uint8Array(1), 2 ** 50))],
      ["trailing bytes", new Uint8Array([0x0a, 0x03, 0x0a, 0x01, 0x6b, 0x00])],
      ["truncated", new Uint8Array([0x0a, 0x05, 0x0a, 0x01, 0x6b])],
      ["key twice", new Uint8Array([0x0a, 0x06, 0x0a, 0x01, 0x6b, 0x0a, 0x01, 0x6c])],
      ["unknown field in the put", new Uint8Array([0x0a, 0x05, 0x0a, 0x01, 0x6b, 0x20, 0x01])],
      ["padded length", new Uint8Array([0x0a, 0x04, 0x0a, 0x81, 0x00, 0x6b])],
      ["nothing", new Uint8Array(0)],
    ];
    for (const [name, wire] of theirs) expect({ name, decoded: decodePutCommand(wire) }).toEqual({ name, decoded: undefined });
  });
});
