// What one Set call on the lean path allocates, by JavaScriptCore object type:
// the API path in process (routes, guard, metrics, deadlines, codecs) in front
// of a node whose put answers at once, HTTP left out. Counts come from
// bun:jsc's heapStats() before and after a run short enough that no
// collection falls inside it (checked: a count that went down means one did).
// Every object here is garbage once the call is answered; on a busy leader a
// share of them outlives a young-generation collection and waits for a full
// one (BENCHMARKS.md), so fewer objects per call means fewer collections.
//
//   bun run bench/api/allocations.ts [--calls 200]
import { fullGC, heapStats } from "bun:jsc";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { createApiMetrics } from "../../src/api/api-metrics.ts";
import { createRpcRoutes } from "../../src/api/routes.ts";
import type { LeanUnaryRequest } from "../../src/api/lean-unary.ts";
import { SetRequestSchema } from "../../src/gen/dkv/v1/kv_pb.js";
import { instantPutNode } from "./instant-node.ts";

const WARMUP_CALLS = 5000;
const { values } = parseArgs({ options: { calls: { type: "string", default: "200" } } });
const calls = Number(values.calls);

const routes = createRpcRoutes({
  node: instantPutNode(),
  readMaxBytes: 2 * 1024 * 1024,
  leanUnary: true,
  requireConnectProtocolHeader: false,
  shutdownSignal: new AbortController().signal,
  metrics: createApiMetrics(),
  log: () => {},
});
const set = routes.unary["/dkv.v1.DkvAPI/Set"]!;
const body = toBinary(SetRequestSchema, create(SetRequestSchema, { key: "key-000123", value: new Uint8Array(256) }));
const clientSignal = new AbortController().signal;
// One request object for every call: what Bun.serve makes per request is measured by bench/api/layers.ts, not here.
const request: LeanUnaryRequest = {
  contentType: "application/proto",
  timeout: null,
  protocolVersion: "1",
  authorization: null,
  signal: clientSignal,
  readBody: () => Promise.resolve(body),
};

async function call(): Promise<void> {
  const answer = await set(request);
  if (answer.status !== 200) throw new Error(`Set answered HTTP ${answer.status}`);
}

for (let i = 0; i < WARMUP_CALLS; i++) await call();
fullGC();
const before = heapStats().objectTypeCounts;
for (let i = 0; i < calls; i++) await call();
const after = heapStats().objectTypeCounts;
const rows = Object.entries(after)
  .map(([type, count]) => [type, count - (before[type] ?? 0)] as const)
  .filter(([, added]) => added !== 0)
  .sort((a, b) => b[1] - a[1]);
if (rows.some(([, added]) => added < 0)) throw new Error("a garbage collection ran during the measured calls: try fewer --calls");
const total = rows.reduce((sum, [, added]) => sum + added, 0);
console.log(`objects allocated per lean Set call (${calls} calls after ${WARMUP_CALLS} to warm up): ${(total / calls).toFixed(1)}`);
for (const [type, added] of rows) if (added / calls >= 0.05) console.log(`  ${type.padEnd(28)} ${(added / calls).toFixed(2)}`);
console.log(`reproduce: bun run bench/api/allocations.ts --calls ${calls}`);
