// Reconnect backoff and peer address parsing.
import { describe, expect, test } from "bun:test";
import { AddressError, parsePeerAddress } from "../../src/transport/address";
import { backoffDelayMs } from "../../src/transport/backoff";

describe("backoffDelayMs", () => {
  const policy = { initialMs: 50, maxMs: 2000 };

  test("doubles per failure from the initial delay and stops at the cap", () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 20, 1000].map((n) => backoffDelayMs(n, policy, 0.999999));
    expect(ceilings.map(Math.round)).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000]);
  });

  test("jitter keeps at least half of the delay", () => {
    expect(backoffDelayMs(3, policy, 0)).toBe(100);
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelayMs(4, policy);
      expect(delay).toBeGreaterThanOrEqual(200);
      expect(delay).toBeLessThan(400);
    }
  });
});

describe("parsePeerAddress", () => {
  test("host:port with a DNS name, an IPv4 and a bracketed IPv6", () => {
    expect(parsePeerAddress("dkv-1.dkv.default.svc:2380")).toEqual({ text: "dkv-1.dkv.default.svc:2380", host: "dkv-1.dkv.default.svc", port: 2380 });
    expect(parsePeerAddress("127.0.0.1:1")).toMatchObject({ host: "127.0.0.1", port: 1 });
    expect(parsePeerAddress("[::1]:65535")).toMatchObject({ host: "::1", port: 65535 });
  });

  test("malformed addresses are refused with the address in the message", () => {
    for (const bad of ["", "host", "host:", ":2380", "host:0", "host:70000", "::1:2380", "[host]:2380", "a b:1", "host:12a"]) {
      expect(() => parsePeerAddress(bad), bad).toThrow(AddressError);
    }
    expect(() => parsePeerAddress("host:0")).toThrow('peer address "host:0"');
  });
});
