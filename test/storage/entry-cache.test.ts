import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { EntryType, type Entry } from "../../src/raft/types";
import { ENTRY_OVERHEAD_BYTES, EntryCache, retainedBytes } from "../../src/storage/entry-cache";

const entryWith = (index: number, data: Uint8Array): Entry => ({ index, term: 1, type: EntryType.Normal, data });

/** Live ArrayBuffer objects after a full collection. */
function arrayBuffers(): number {
  Bun.gc(true);
  return heapStats().objectTypeCounts.ArrayBuffer ?? 0;
}

describe("entry cache accounting", () => {
  test("a payload with bytes of its own counts its length, and caching it gives it no ArrayBuffer of its own", () => {
    const entries = Array.from({ length: 2_000 }, (_, i) => entryWith(i + 1, new Uint8Array(290).fill(i % 251)));
    const before = arrayBuffers();
    const cache = new EntryCache(64 * 1024 * 1024, 16_384);
    cache.append(entries, 0);
    // Reading `.buffer` of each payload would have made ~2,000 of them (a finalized object each).
    expect(arrayBuffers() - before).toBeLessThan(100);
    expect(retainedBytes(entries[0]!)).toBe(290 + ENTRY_OVERHEAD_BYTES);
    expect(cache.slice(1, 2_001, Number.MAX_SAFE_INTEGER)).toHaveLength(2_000);
  });

  test("a payload that is a view into a received frame counts the whole frame, so cached views cannot pin unbounded memory", () => {
    const frameBytes = 64 * 1024;
    const fromFrame = (index: number): Entry => entryWith(index, new Uint8Array(frameBytes).subarray(16, 16 + 290));
    expect(retainedBytes(fromFrame(1))).toBe(frameBytes + ENTRY_OVERHEAD_BYTES);

    // Room for one frame: the second view evicts the first.
    const cache = new EntryCache(100 * 1024, 16_384);
    cache.append([fromFrame(1), fromFrame(2)], 0);
    expect(cache.firstIndex()).toBe(2);

    // The same room holds many payloads of their own.
    const owned = new EntryCache(100 * 1024, 16_384);
    owned.append(Array.from({ length: 200 }, (_, i) => entryWith(i + 1, new Uint8Array(290))), 0);
    expect(owned.firstIndex()).toBe(1);
  });

  test("evicted entries are not kept alive by the slots waiting to be spliced out", async () => {
    const cache = new EntryCache(64 * 1024 * 1024, 1_000);
    const refs = fillPastRoom(cache);
    // Collected from later event-loop turns: a WeakRef keeps its target alive
    // until the job that made it ends, and the conservative stack scan of the
    // turn that filled the cache can find the whole batch array. Held by the
    // cache, all 600 stay alive however often the collector runs.
    let alive = refs.length;
    for (let attempt = 0; attempt < 5 && alive >= 20; attempt++) {
      await Bun.sleep(1);
      Bun.gc(true);
      alive = refs.filter((ref) => ref.deref() !== undefined).length;
    }
    expect(alive).toBeLessThan(20);
    // The cache itself is still in use (else collecting it would free the entries anyway).
    expect(cache.firstIndex()).toBe(601);
  });
});

/** 1,600 entries into room for 1,000: the first 600 are evicted, fewer than tidy() would splice out yet. Weak references to those 600. */
function fillPastRoom(cache: EntryCache): WeakRef<Entry>[] {
  const entries = Array.from({ length: 1_600 }, (_, i) => entryWith(i + 1, new Uint8Array(64)));
  cache.append(entries, 0);
  return entries.slice(0, 600).map((entry) => new WeakRef(entry));
}
