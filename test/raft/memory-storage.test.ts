// MemoryStorage: what the driver persisted, and nothing else.
import { describe, expect, test } from "bun:test";
import { MemoryStorage } from "../../src/raft/index";
import { confState, entry } from "./helpers";

function storage(n: number, term = 1): MemoryStorage {
  const s = new MemoryStorage({ confState: confState(["a", "b"]) });
  s.append(Array.from({ length: n }, (_, i) => entry(i + 1, term, `e${i + 1}`)));
  s.setHardState({ term, vote: "", commit: n });
  return s;
}

describe("MemoryStorage", () => {
  test("append replaces a conflicting suffix and refuses gaps", () => {
    const s = storage(5);
    s.append([entry(3, 2), entry(4, 2)]);
    expect(s.lastIndex()).toBe(4);
    expect(s.term(3)).toBe(2);
    expect(() => s.append([entry(9, 2)])).toThrow(/gap/);
  });

  test("compact drops only what the newest snapshot covers and keeps the term at the cut", () => {
    const s = storage(6);
    expect(() => s.compact(3)).toThrow(/beyond the snapshot/);
    s.createSnapshot(4, confState(["a", "b"]), new Uint8Array([9, 9]));
    s.compact(3);
    expect(s.firstIndex()).toBe(4);
    expect(s.term(3)).toBe(1);
    expect(s.term(2)).toBeUndefined();
    expect(() => s.entries(2, 5, Infinity)).toThrow(/compacted/);
  });

  test("snapshot chunks are read up to a byte limit and the last one is marked done", () => {
    const s = storage(3);
    const meta = s.createSnapshot(3, confState(["a", "b"]), new Uint8Array([1, 2, 3, 4, 5]));
    expect(s.snapshotChunk(meta, 0, 2)).toEqual({ data: new Uint8Array([1, 2]), done: false });
    expect(s.snapshotChunk(meta, 4, 2)).toEqual({ data: new Uint8Array([5]), done: true });
    const older = { ...meta, index: 2 };
    expect(() => s.snapshotChunk(older, 0, 2)).toThrow(/replaced/);
  });

  test("installing a staged snapshot keeps the log after it only when the log holds its entry", () => {
    const meta = { index: 3, term: 1, confState: confState(["a", "b", "c"]), sizeBytes: 3 };
    const keep = storage(5);
    keep.writeSnapshotChunk({ meta, offset: 0, data: new Uint8Array([1, 2]), done: false });
    keep.writeSnapshotChunk({ meta, offset: 2, data: new Uint8Array([3]), done: true });
    keep.installSnapshot(meta);
    expect([keep.firstIndex(), keep.lastIndex()]).toEqual([4, 5]);
    expect(keep.initialState().confState.voters).toEqual(["a", "b", "c"]);
    expect(keep.snapshotImage()).toEqual(new Uint8Array([1, 2, 3]));

    const drop = storage(5, 2); // terms differ at index 3
    drop.writeSnapshotChunk({ meta, offset: 0, data: new Uint8Array([1, 2, 3]), done: true });
    drop.installSnapshot(meta);
    expect([drop.firstIndex(), drop.lastIndex()]).toEqual([4, 3]);
  });

  test("a chunk out of order, or an install before the last chunk, is refused", () => {
    const meta = { index: 3, term: 1, confState: confState(["a"]), sizeBytes: 3 };
    const s = storage(1);
    s.writeSnapshotChunk({ meta, offset: 0, data: new Uint8Array([1]), done: false });
    expect(() => s.writeSnapshotChunk({ meta, offset: 2, data: new Uint8Array([3]), done: true })).toThrow(/expected 1/);
    expect(() => s.installSnapshot(meta)).toThrow(/before all its chunks/);
  });

  test("a clone is independent: later writes to the original do not reach it (a crash keeps only the persisted state)", () => {
    const s = storage(3);
    const crashed = s.clone();
    s.append([entry(4, 1)]);
    s.setHardState({ term: 5, vote: "b", commit: 4 });
    expect(crashed.lastIndex()).toBe(3);
    expect(crashed.initialState().hardState).toEqual({ term: 1, vote: "", commit: 3 });
  });
});
