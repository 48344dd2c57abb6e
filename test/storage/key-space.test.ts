import { describe, expect, test } from "bun:test";
import { KeySpace } from "../../src/storage/key-space";
import type { KeyValue } from "../../src/storage/kv-store";

const kv = (key: string, version: number): KeyValue => ({ key, value: new Uint8Array([version]), createRevision: 1, modRevision: version, version, lease: 0 });
const listed = (keys: Iterable<KeyValue>) => [...keys].map((k) => `${k.key}@${k.version}`);

describe("key space", () => {
  test("point reads and writes, and ordered scans that see creates and deletes", () => {
    const space = new KeySpace();
    for (const key of ["b", "a", "c"]) space.set(key, kv(key, 1));
    space.set("a", kv("a", 2));
    expect(space.delete("b")).toBe(true);
    expect(space.delete("b")).toBe(false);
    expect(space.size).toBe(2);
    expect(space.get("a")?.version).toBe(2);
    expect(space.get("b")).toBeUndefined();
    expect(listed(space.values())).toEqual(["a@2", "c@1"]);
    expect(listed(space.from("b"))).toEqual(["c@1"]);
    // Bytes of keys (UTF-8) and values: "a" + 1 and "c" + 1.
    expect(space.bytes).toBe(4);
    expect(space.growthIfSet("a", 5)).toBe(4);
    expect(space.growthIfSet("\u00e9", 1)).toBe(3);
    space.set("\u00e9", kv("\u00e9", 1));
    space.delete("a");
    expect(space.bytes).toBe(5);
  });

  test("a frozen view keeps every key as it was, through overwrites, deletes, re-creates and new keys", () => {
    const space = new KeySpace();
    for (const key of ["a", "b", "c", "d"]) space.set(key, kv(key, 1));
    const frozen = space.freeze();
    space.set("a", kv("a", 2));
    space.set("a", kv("a", 3));
    space.delete("b");
    space.delete("c");
    space.set("c", kv("c", 9));
    space.set("e", kv("e", 1));
    const second = space.freeze();
    space.set("d", kv("d", 5));
    expect(frozen.size).toBe(4);
    expect(listed(frozen.values())).toEqual(["a@1", "b@1", "c@1", "d@1"]);
    expect(listed(second.values())).toEqual(["a@3", "c@9", "d@1", "e@1"]);
    expect(listed(space.values())).toEqual(["a@3", "c@9", "d@5", "e@1"]);
    frozen.release();
    second.release();
    // Released views cost nothing more: writes no longer save what they replace.
    space.set("a", kv("a", 4));
    expect((space as unknown as { freezes: Set<unknown> }).freezes.size).toBe(0);
  });
});
