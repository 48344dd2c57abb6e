// The lease keeper against a fake member: a key that goes while keep-alives
// keep succeeding is a lease that ended early; one that goes after a long
// silence is not judged.
import { afterEach, expect, test } from "bun:test";
import type { Server } from "bun";
import { LeaseKeeper } from "./lease-keeper.ts";

let server: Server<undefined> | undefined;
afterEach(() => server?.stop(true));

/** A member whose key is found `foundReads` times, then gone. */
function fakeMember(foundReads: number): string {
  let reads = 0;
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const method = new URL(request.url).pathname;
      if (method.endsWith("/LeaseGrant")) return Response.json({ id: "42", ttlSeconds: "15" });
      if (method.endsWith("/Get")) return Response.json(++reads <= foundReads ? { found: true, value: "" } : {});
      return Response.json({});
    },
  });
  return `http://127.0.0.1:${server.port}`;
}

test("the key going while every keep-alive succeeds is a lease that ended early", async () => {
  const endpoint = fakeMember(1);
  let now = 0;
  const keeper = new LeaseKeeper(() => [endpoint], () => (now += 100), () => 0);
  await keeper.start(5_000);
  await Bun.sleep(1_500);
  const report = await keeper.stop();
  expect(report.leaseId).toBe("42");
  expect(report.vanished).toBeDefined();
  expect(report.endedEarly).toBe(true);
});

test("after a silence longer than the TTL, a key that goes is not judged", async () => {
  const endpoint = fakeMember(0);
  let now = 0;
  // Each look at the clock jumps 20 s: the gap before the first read is already past the TTL.
  const keeper = new LeaseKeeper(() => [endpoint], () => (now += 20_000), () => 0);
  await keeper.start(5_000);
  await Bun.sleep(200);
  const report = await keeper.stop();
  expect(report.vanished).toBeDefined();
  expect(report.endedEarly).toBe(false);
});
