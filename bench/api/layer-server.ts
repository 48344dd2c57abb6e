// Child process of layers.ts: answers the benchmark's Set calls with one more
// layer of dkv's API path per mode, so the parent can tell what each costs.
//   raw       the same by hand on Bun.listen (raw-http1.ts): what Bun.serve
//             itself costs per request, for comparison only
//   bare      Bun.serve reads the body and answers fixed bytes
//   headers   + the header reads and checks the lean path makes
//   protobuf  + decoding SetRequest and encoding a SetResponse
//   dkv-api   dkv's whole API server (routes, guard, metrics, deadlines, lean
//             path) in front of a node whose put answers at once
//   memory    the same in front of the in-memory test node (revisions, watch
//             history, copies), which stands in for dkv's state machine
// Prints {"port":N} once listening; stops on SIGTERM.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { startApiServer } from "../../src/api/index.js";
import { KeyValueSchema, ResponseHeaderSchema, SetRequestSchema, SetResponseSchema } from "../../src/gen/dkv/v1/kv_pb.js";
import { MemoryNode } from "../../test/api/memory-node.js";
import { instantPutNode } from "./instant-node.ts";
import { listenRaw } from "./raw-http1.ts";

export const LAYER_MODES = ["raw", "bare", "headers", "protobuf", "dkv-api", "memory"] as const;
export type LayerMode = (typeof LAYER_MODES)[number];

const FIXED = new Uint8Array([0x08, 0x01]);
const RESPONSE_HEADERS = { "content-type": "application/proto" };

async function serve(mode: LayerMode): Promise<{ port: number; stop: () => Promise<void> }> {
  if (mode === "dkv-api" || mode === "memory") {
    const node = mode === "dkv-api" ? instantPutNode() : new MemoryNode();
    const api = await startApiServer({ node, listenAddress: "127.0.0.1:0", leanUnary: true, log: () => {} });
    return { port: api.port, stop: () => api.stop() };
  }
  if (mode === "raw") return listenRaw();
  let revision = 1n;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      if (mode !== "bare") {
        const headers = request.headers;
        if (request.method !== "POST" || headers.get("content-type") !== "application/proto") return new Response("unexpected", { status: 415 });
        headers.get("connect-timeout-ms");
        headers.get("connect-protocol-version");
        headers.get("authorization");
        headers.get("content-length");
        void request.signal;
      }
      const body = new Uint8Array(await request.arrayBuffer());
      if (mode === "bare" || mode === "headers") return new Response(FIXED, { headers: RESPONSE_HEADERS });
      const set = fromBinary(SetRequestSchema, body);
      revision++;
      const kv = create(KeyValueSchema, { key: set.key, value: set.value, createRevision: revision, modRevision: revision, version: 1n });
      const answer = create(SetResponseSchema, { kv, header: create(ResponseHeaderSchema, { revision, memberId: "m1", raftTerm: 2n }) });
      return new Response(toBinary(SetResponseSchema, answer), { headers: RESPONSE_HEADERS });
    },
  });
  return { port: server.port!, stop: async () => void server.stop(true) };
}

if (import.meta.main) {
  const mode = process.argv[2] as LayerMode;
  if (!LAYER_MODES.includes(mode)) throw new Error(`mode must be one of ${LAYER_MODES.join(", ")}`);
  const server = await serve(mode);
  console.log(JSON.stringify({ port: server.port }));
  process.on("SIGTERM", () => void server.stop().then(() => process.exit(0)));
}
