// The simulator's building blocks behave as the simulation assumes: the PRNG
// is deterministic and in range, the network delays, drops, duplicates, cuts
// links one way and heals, and never shares message objects.

import { describe, expect, test } from "bun:test";
import { type Message, MessageType } from "../../src/raft/types";
import { Network, RELIABLE_NETWORK } from "./network";
import { SimPrng } from "./prng";

function message(from: string, to: string, payload = 1): Message {
  return {
    type: MessageType.Append,
    from,
    to,
    term: 1,
    logTerm: 0,
    index: 0,
    entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array([payload]) }],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    snapshotOffset: 0,
    snapshotData: new Uint8Array(0),
    snapshotDone: false,
  };
}

describe("seeded PRNG", () => {
  test("the same seed gives the same sequence and different seeds differ", () => {
    const a = new SimPrng(42);
    const b = new SimPrng(42);
    const c = new SimPrng(43);
    const seqA = Array.from({ length: 50 }, () => a.nextU32());
    expect(Array.from({ length: 50 }, () => b.nextU32())).toEqual(seqA);
    expect(Array.from({ length: 50 }, () => c.nextU32())).not.toEqual(seqA);
  });

  test("nextInt stays in range and reaches every value", () => {
    const prng = new SimPrng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = prng.nextInt(7);
      expect(v >= 0 && v < 7 && Number.isInteger(v)).toBe(true);
      seen.add(v);
    }
    expect(seen.size).toBe(7);
  });

  test("rejects seeds outside 32 bits", () => {
    expect(() => new SimPrng(-1)).toThrow();
    expect(() => new SimPrng(2 ** 32)).toThrow();
  });
});

describe("simulated network", () => {
  test("delivers a message after its delay, as a copy", () => {
    const net = new Network(new SimPrng(1), { ...RELIABLE_NETWORK, delayTicksMin: 2, delayTicksMax: 2, longDelayTicksMax: 2 });
    const sent = message("n1", "n2");
    net.send(sent, 10);
    expect(net.takeDue(11)).toEqual([]);
    const [got] = net.takeDue(12);
    expect(got).toEqual(sent);
    expect(got).not.toBe(sent);
    expect(got?.entries[0]?.data).not.toBe(sent.entries[0]?.data);
  });

  test("drops and duplicates at the configured rates", () => {
    const net = new Network(new SimPrng(2), { ...RELIABLE_NETWORK, dropPerMillion: 1_000_000 });
    net.send(message("n1", "n2"), 0);
    expect(net.takeDue(1)).toEqual([]);
    const dup = new Network(new SimPrng(2), { ...RELIABLE_NETWORK, duplicatePerMillion: 1_000_000 });
    dup.send(message("n1", "n2"), 0);
    expect(dup.takeDue(1).length).toBe(2);
  });

  test("reorders messages with different delays", () => {
    const net = new Network(new SimPrng(3), { ...RELIABLE_NETWORK, delayTicksMax: 8, longDelayTicksMax: 8 });
    for (let k = 0; k < 20; k++) net.send(message("n1", "n2", k), 0);
    const order: number[] = [];
    for (let t = 1; t <= 8; t++) for (const m of net.takeDue(t)) order.push(m.entries[0]?.data[0] as number);
    expect(order.length).toBe(20);
    expect(order).not.toEqual([...order].sort((x, y) => x - y));
  });

  test("a one-way cut blocks one direction only, also for messages already in flight, until healed", () => {
    const net = new Network(new SimPrng(4), RELIABLE_NETWORK);
    net.send(message("n1", "n2"), 0);
    net.cutOneWay("n1", "n2");
    net.send(message("n2", "n1"), 0);
    net.send(message("n1", "n2"), 0);
    expect(net.takeDue(1).map((m) => `${m.from}>${m.to}`)).toEqual(["n2>n1"]);
    net.heal();
    net.send(message("n1", "n2"), 1);
    expect(net.takeDue(2).length).toBe(1);
  });

  test("isolating a node and splitting groups cut both directions", () => {
    const net = new Network(new SimPrng(5), RELIABLE_NETWORK);
    net.isolate("n1", ["n1", "n2", "n3"]);
    expect([net.isCut("n1", "n2"), net.isCut("n3", "n1"), net.isCut("n2", "n3")]).toEqual([true, true, false]);
    net.heal();
    net.split(["n1", "n2"], ["n3"]);
    expect([net.isCut("n1", "n3"), net.isCut("n3", "n2"), net.isCut("n1", "n2")]).toEqual([true, true, false]);
  });
});
