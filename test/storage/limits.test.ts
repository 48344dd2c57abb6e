import { create } from "@bufbuild/protobuf";
import { describe, expect, test } from "bun:test";
import {
  CommandSchema,
  CompareAndSwapCommandSchema,
  CompareCommandSchema,
  DeleteCommandSchema,
  PutCommandSchema,
} from "../../src/gen/dkv/raft/v1/command_pb";
import {
  MAX_CLIENT_ID_BYTES,
  MAX_KEY_BYTES,
  MAX_REQUEST_BYTES,
  MAX_VALUE_BYTES,
  validateCommand,
  validateDelete,
  validatePut,
} from "../../src/storage";

describe("limits", () => {
  test("the defaults follow etcd: a request of at most 1.5 MiB, a maximum key plus value fits in it", () => {
    expect(MAX_REQUEST_BYTES).toBe(1_572_864);
    expect(MAX_KEY_BYTES).toBe(4096);
    expect(MAX_KEY_BYTES + MAX_VALUE_BYTES).toBeLessThan(MAX_REQUEST_BYTES);
  });

  test("an empty key is refused", () => {
    expect(validatePut("", new Uint8Array(1))).toBe("key must not be empty");
    expect(validateDelete("")).toBe("key must not be empty");
  });

  test("keys are measured in UTF-8 bytes, up to MAX_KEY_BYTES", () => {
    expect(validatePut("k".repeat(MAX_KEY_BYTES), new Uint8Array(0))).toBeUndefined();
    expect(validatePut("k".repeat(MAX_KEY_BYTES + 1), new Uint8Array(0))).toBe(
      `key is ${MAX_KEY_BYTES + 1} bytes; the limit is ${MAX_KEY_BYTES} bytes (MAX_KEY_BYTES)`,
    );
    // 2 048 characters of 3 bytes each: 6 144 bytes, over the limit.
    expect(validatePut("\u20ac".repeat(2048), new Uint8Array(0))).toContain("key is 6144 bytes");
  });

  test("a key that is not well-formed Unicode is refused instead of silently changed", () => {
    expect(validatePut("a\ud800b", new Uint8Array(0))).toMatch(/lone surrogate/);
    expect(validatePut("\u{1F600}", new Uint8Array(0))).toBeUndefined();
  });

  test("values up to MAX_VALUE_BYTES are accepted, one byte more is refused with the limit named", () => {
    expect(validatePut("k", new Uint8Array(MAX_VALUE_BYTES))).toBeUndefined();
    expect(validatePut("k", new Uint8Array(MAX_VALUE_BYTES + 1))).toBe(
      `value is ${MAX_VALUE_BYTES + 1} bytes; the limit is ${MAX_VALUE_BYTES} bytes (MAX_VALUE_BYTES)`,
    );
  });

  test("whole commands are checked: operation present, client id bounded, compare-and-swap within the request limit", () => {
    const put = (key: string, size: number) => create(CommandSchema, { op: { case: "put", value: create(PutCommandSchema, { key, value: new Uint8Array(size) }) } });
    expect(validateCommand(put("a", 10))).toBeUndefined();
    expect(validateCommand(put("", 10))).toBe("key must not be empty");
    expect(validateCommand(create(CommandSchema, {}))).toMatch(/no operation/);
    expect(validateCommand(create(CommandSchema, { op: { case: "delete", value: create(DeleteCommandSchema, { key: "x" }) } }))).toBeUndefined();
    expect(validateCommand({ ...put("a", 1), clientId: "c".repeat(MAX_CLIENT_ID_BYTES + 1) })).toMatch(/client id is 257 bytes/);

    const cas = (compareValue: number, value: number, withCompare = true) =>
      create(CommandSchema, {
        op: {
          case: "compareAndSwap",
          value: create(CompareAndSwapCommandSchema, {
            ...(withCompare ? { compare: create(CompareCommandSchema, { key: "k", value: new Uint8Array(compareValue) }) } : {}),
            key: "k",
            value: new Uint8Array(value),
          }),
        },
      });
    expect(validateCommand(cas(10, 10))).toBeUndefined();
    expect(validateCommand(cas(10, 10, false))).toBe("compare-and-swap needs a comparison");
    expect(validateCommand(cas(MAX_VALUE_BYTES, MAX_VALUE_BYTES))).toMatch(/request limit is 1572864 bytes \(MAX_REQUEST_BYTES\)/);
    expect(validateCommand(cas(MAX_VALUE_BYTES + 1, 1))).toMatch(/^compare value is/);
  });
});
