import { describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { KeyValueSchema, ResponseHeaderSchema } from "../../src/gen/dkv/v1/kv_pb.ts";
import { headerToProto, keyValueToProto, uint64FromProto } from "../../src/api/translate.ts";

describe("translate", () => {
  const kv = { key: "k", value: new Uint8Array([1, 2]), createRevision: 3, modRevision: 4, version: 2, lease: 7 };
  const header = { revision: 9, memberId: "m1", raftTerm: 5 };

  test("the literal KeyValue and ResponseHeader are what create() makes, with every field of the schema", () => {
    const viaCreate = create(KeyValueSchema, { key: "k", value: kv.value, createRevision: 3n, modRevision: 4n, version: 2n, lease: 7n });
    expect(keyValueToProto(kv)).toEqual(viaCreate);
    // A field added to the schema later would be missing from the literal: create() of nothing lists them all.
    expect(Object.keys(keyValueToProto(kv)).sort()).toEqual(Object.keys(create(KeyValueSchema)).sort());
    expect(toBinary(KeyValueSchema, keyValueToProto(kv))).toEqual(toBinary(KeyValueSchema, viaCreate));

    const headerViaCreate = create(ResponseHeaderSchema, { revision: 9n, memberId: "m1", raftTerm: 5n });
    expect(headerToProto(header)).toEqual(headerViaCreate);
    expect(Object.keys(headerToProto(header)).sort()).toEqual(Object.keys(create(ResponseHeaderSchema)).sort());
  });

  test("node output that is not a non-negative integer is refused as a node bug", () => {
    expect(() => keyValueToProto({ ...kv, modRevision: -1 })).toThrow("modRevision");
    expect(() => headerToProto({ ...header, raftTerm: 1.5 })).toThrow("header.raftTerm");
  });

  test("a client uint64 past 2^53-1 is invalid_argument", () => {
    expect(uint64FromProto("lease", 12n)).toBe(12);
    expect(uint64FromProto("lease", BigInt(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => uint64FromProto("lease", BigInt(Number.MAX_SAFE_INTEGER) + 1n)).toThrow("too large");
  });
});
