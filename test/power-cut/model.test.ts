// The disk model itself: what a rebuilt file holds after a cut, given what
// was synced and what the page cache held (the shim's side is exercised by
// the power-cut tests in storage, certs and e2e, and their negative control).
import { describe, expect, test } from "bun:test";
import { partlyWrittenBack } from "./power-cut.ts";

const PAGE = 4096;
const filled = (pages: number, byte: number) => new Uint8Array(pages * PAGE).fill(byte);
const pageBytes = (data: Uint8Array) => Array.from({ length: Math.ceil(data.length / PAGE) }, (_, i) => data[i * PAGE]);

describe("partly written back pages", () => {
  test("with every coin on 'not yet' the synced file comes back, its growth dropped", () => {
    const synced = filled(2, 1);
    const cached = new Uint8Array([...filled(2, 2), ...filled(3, 3)]);
    expect(pageBytes(partlyWrittenBack(synced, cached, () => 0))).toEqual([1, 1]);
  });

  test("with every coin on 'written' the cached file comes back whole", () => {
    const cached = new Uint8Array([...filled(2, 2), ...filled(3, 3)]);
    expect(partlyWrittenBack(filled(2, 1), cached, () => 0.999)).toEqual(cached);
  });

  test("a mix keeps each page whole from one side or the other, and a prefix of the growth", () => {
    const coins = [0.6, 0.2, 0.7]; // growth: 2 of 3 new pages; page 0 not written back; page 1 written back
    const next = () => coins.shift() ?? 0;
    const cached = new Uint8Array([...filled(2, 2), ...filled(3, 3)]);
    expect(pageBytes(partlyWrittenBack(filled(2, 1), cached, next))).toEqual([1, 2, 3, 3]);
  });

  test("a file truncated since its sync keeps its old or its new length", () => {
    const synced = filled(3, 1);
    const cached = filled(1, 2);
    expect(partlyWrittenBack(synced, cached, () => 0.2).length).toBe(3 * PAGE);
    expect(partlyWrittenBack(synced, cached, () => 0.7).length).toBe(PAGE);
  });
});
