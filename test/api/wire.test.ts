// The HTTP wire as a client without a Connect library sees it: curl-style
// JSON calls, malformed and oversized bodies, unknown paths, protocol
// headers. Every raw case is sent to a lean server and a stock server, and
// the two answers must be identical byte for byte (status, headers, body).
import { afterEach, describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetRequestSchema, SetRequestSchema } from "../../src/gen/dkv/v1/kv_pb.js";
import type { ApiServerOptions } from "../../src/api/index.js";
import { ServerPool, bytes, clientsFor } from "./harness.js";
import { MemoryNode } from "./memory-node.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function raw(baseUrl: string, path: string, init: RequestInit = {}): Promise<RawAnswer> {
  const response = await fetch(baseUrl + path, init);
  const headers = Object.fromEntries([...response.headers].filter(([name]) => name !== "date"));
  return { status: response.status, headers, body: await response.text() };
}

const json = (body: string, extra: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/json", ...extra },
  body,
});
const proto = (body: Uint8Array, extra: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/proto", ...extra },
  body,
});

/** A node with one key, so reads have something to find. */
function seededNode(): MemoryNode {
  const node = new MemoryNode();
  void node.put("a", bytes("alpha"));
  return node;
}

/** Starts lean and stock servers with the same options and state, and a lean one whose port is served by the API worker. */
async function trio(options: Partial<ApiServerOptions> = {}, prepare: (node: MemoryNode) => void = () => {}) {
  const lean = await pool.start({ ...options, leanUnary: true }, seededNode());
  const stock = await pool.start({ ...options, leanUnary: false }, seededNode());
  const worker = await pool.start({ ...options, leanUnary: true, apiWorker: true }, seededNode());
  prepare(lean.node);
  prepare(stock.node);
  prepare(worker.node);
  return { lean, stock, worker };
}

interface WireCase {
  name: string;
  path: string;
  init: () => RequestInit;
  options?: Partial<ApiServerOptions>;
  prepare?: (node: MemoryNode) => void;
  expect: (answer: RawAnswer) => void;
}

const LIMIT = 1024;
const cases: WireCase[] = [
  {
    name: "curl-style JSON Get of a present key",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => json('{"key":"a"}'),
    expect: (answer) => {
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toBe("application/json");
      const body = JSON.parse(answer.body);
      expect(body.found).toBe(true);
      expect(Buffer.from(body.value, "base64").toString()).toBe("alpha");
      expect(body.kv).toEqual({ key: "a", value: "YWxwaGE=", createRevision: "1", modRevision: "1", version: "1" });
      expect(body.header).toEqual({ revision: "1", memberId: "n1", raftTerm: "7" });
    },
  },
  {
    name: "JSON Get of a missing key: 200, found omitted (false)",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => json('{"key":"nope"}', { "Connect-Protocol-Version": "1" }),
    expect: (answer) => {
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ header: { revision: "1", memberId: "n1", raftTerm: "7" } });
    },
  },
  {
    name: "JSON with charset and a consistency name",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => ({ method: "POST", headers: { "Content-Type": "application/json; charset=utf-8" }, body: '{"key":"a","consistency":"CONSISTENCY_SERIALIZABLE"}' }),
    expect: (answer) => expect(JSON.parse(answer.body).found).toBe(true),
  },
  {
    name: "binary Set",
    path: "/dkv.v1.DkvAPI/Set",
    init: () => proto(toBinary(SetRequestSchema, create(SetRequestSchema, { key: "b", value: bytes("beta") }))),
    expect: (answer) => {
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toBe("application/proto");
    },
  },
  // Set's and Get's binary codecs (fast-binary.ts) cover the common shape and
  // leave the rest to protobuf-es: each of these must answer as the stock handler does.
  ...(
    [
      // [method, name, wire bytes, status, error message (when not 200)]
      ["Set", "binary Set with an empty body", [], 400, "key must not be empty"],
      ["Set", "binary Set with a truncated value", [0x0a, 0x01, 0x62, 0x12, 0x05, 0x61], 400, "parse binary: premature EOF"],
      ["Set", "binary Set with the key field twice", [0x0a, 0x01, 0x62, 0x0a, 0x01, 0x63, 0x12, 0x01, 0x61], 200],
      ["Set", "binary Set with an unknown field", [0x0a, 0x01, 0x62, 0x12, 0x01, 0x61, 0x20, 0x07], 200],
      ["Set", "binary Set with a non-ASCII key", [0x0a, 0x02, 0xc3, 0xa9, 0x12, 0x01, 0x61], 200],
      ["Set", "binary Set with invalid UTF-8 in the key", [0x0a, 0x01, 0xff, 0x12, 0x01, 0x61], 400, "parse binary: The encoded data was not valid for encoding utf-8"],
      ["Set", "binary Set with a padded length varint", [0x0a, 0x81, 0x00, 0x62, 0x12, 0x01, 0x61], 200],
      [
        "Set",
        "binary Set with a lease past 2^53",
        [0x0a, 0x01, 0x62, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        400,
        "lease 9223372036854775807 is too large; the largest supported value is 9007199254740991",
      ],
      ["Set", "binary Set with the key as a varint", [0x08, 0x01, 0x12, 0x01, 0x61], 400, "parse binary: illegal tag: field no 0 wire type 1"],
      ["Get", "binary serializable Get of a present key", [0x0a, 0x01, 0x61, 0x10, 0x01], 200],
      ["Get", "binary Get of a missing key", [0x0a, 0x01, 0x7a], 200],
      ["Get", "binary Get with an unknown consistency number", [0x0a, 0x01, 0x61, 0x10, 0x07], 400, "consistency 7 is unknown; use CONSISTENCY_LINEARIZABLE or CONSISTENCY_SERIALIZABLE"],
      ["Get", "binary Get with the key field twice", [0x0a, 0x01, 0x7a, 0x0a, 0x01, 0x61], 200],
      ["Get", "binary Get with a non-ASCII key", [0x0a, 0x02, 0xc3, 0xa9], 200],
      ["Get", "binary Get with a truncated key", [0x0a, 0x03, 0x61], 400, "parse binary: premature EOF"],
    ] as Array<[string, string, number[], number, string?]>
  ).map(([method, name, wire, status, message]) => ({
    name,
    path: `/dkv.v1.DkvAPI/${method}`,
    init: () => proto(new Uint8Array(wire)),
    expect: (answer: RawAnswer) => {
      expect(answer.status).toBe(status);
      if (message !== undefined) expect(JSON.parse(answer.body)).toEqual({ code: "invalid_argument", message });
    },
  })),
  {
    name: "empty key",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => json("{}"),
    expect: (answer) => {
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toEqual({ code: "invalid_argument", message: "key must not be empty" });
    },
  },
  {
    name: "empty binary body decodes to an empty request",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => proto(new Uint8Array(0)),
    expect: (answer) => expect(JSON.parse(answer.body)).toEqual({ code: "invalid_argument", message: "key must not be empty" }),
  },
  {
    name: "garbage bytes as binary",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => proto(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])),
    expect: (answer) => {
      expect(answer.status).toBe(400);
      expect(answer.headers["content-type"]).toBe("application/json");
      const body = JSON.parse(answer.body);
      expect(body.code).toBe("invalid_argument");
      expect(body.message).toStartWith("parse binary: ");
    },
  },
  {
    name: "bad JSON",
    path: "/dkv.v1.DkvAPI/Set",
    init: () => json('{"key": "a", "value": '),
    expect: (answer) => {
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).code).toBe("invalid_argument");
    },
  },
  {
    name: "JSON of the wrong shape",
    path: "/dkv.v1.DkvAPI/Set",
    init: () => json('{"key": 5, "value": "not base64!"}'),
    expect: (answer) => {
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).code).toBe("invalid_argument");
    },
  },
  {
    name: "an unknown consistency number",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => json('{"key":"a","consistency":9}'),
    expect: (answer) =>
      expect(JSON.parse(answer.body)).toEqual({
        code: "invalid_argument",
        message: "consistency 9 is unknown; use CONSISTENCY_LINEARIZABLE or CONSISTENCY_SERIALIZABLE",
      }),
  },
  {
    name: "a compare.number beyond 2^53",
    path: "/dkv.v1.DkvAPI/CompareAndSwap",
    init: () => json('{"key":"a","compare":{"target":"TARGET_VERSION","number":"18446744073709551615"}}'),
    expect: (answer) => expect(JSON.parse(answer.body).message).toBe("compare.number 18446744073709551615 is too large; the largest supported value is 9007199254740991"),
  },
  {
    name: "a declared body over the limit is refused unread",
    path: "/dkv.v1.DkvAPI/Set",
    options: { maxRequestBytes: LIMIT },
    init: () => proto(new Uint8Array(LIMIT + 1)),
    expect: (answer) => {
      expect(answer.status).toBe(429);
      expect(JSON.parse(answer.body)).toEqual({ code: "resource_exhausted", message: `message size ${LIMIT + 1} is larger than configured readMaxBytes ${LIMIT}` });
    },
  },
  {
    name: "a chunked body over the limit",
    path: "/dkv.v1.DkvAPI/Set",
    options: { maxRequestBytes: LIMIT },
    init: () => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: chunkedBody(4, 600) }),
    expect: (answer) => {
      expect(answer.status).toBe(429);
      expect(JSON.parse(answer.body)).toEqual({ code: "resource_exhausted", message: `message size is larger than configured readMaxBytes ${LIMIT}` });
    },
  },
  {
    name: "a chunked body within the limit",
    path: "/dkv.v1.DkvAPI/Get",
    options: { maxRequestBytes: LIMIT },
    init: () => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: streamOf(['{"ke', 'y":"a"}']) }),
    expect: (answer) => expect(JSON.parse(answer.body).found).toBe(true),
  },
  {
    name: "an invalid Connect-Timeout-Ms",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => json('{"key":"a"}', { "Connect-Timeout-Ms": "soon" }),
    expect: (answer) => {
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toEqual({ code: "invalid_argument", message: "protocol error: invalid connect timeout value: soon" });
    },
  },
  {
    name: "Connect-Timeout-Ms ends a call the node keeps waiting on",
    path: "/dkv.v1.DkvAPI/Get",
    prepare: (node) => node.hang.set("get", { ignoreSignal: false }),
    init: () => json('{"key":"a"}', { "Connect-Timeout-Ms": "100" }),
    expect: (answer) => {
      expect(answer.status).toBe(504);
      expect(JSON.parse(answer.body)).toEqual({ code: "deadline_exceeded", message: "the operation timed out" });
    },
  },
  {
    name: "Connect-Timeout-Ms 0 fails at once without calling the node",
    path: "/dkv.v1.DkvAPI/Set",
    init: () => json('{"key":"a","value":""}', { "Connect-Timeout-Ms": "0" }),
    expect: (answer) => expect(JSON.parse(answer.body).code).toBe("deadline_exceeded"),
  },
  {
    name: "a missing Connect-Protocol-Version when it is required",
    path: "/dkv.v1.DkvAPI/Get",
    options: { requireConnectProtocolHeader: true },
    init: () => json('{"key":"a"}'),
    expect: (answer) => {
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toEqual({ code: "invalid_argument", message: 'missing required header: set Connect-Protocol-Version to "1"' });
    },
  },
  {
    name: "a wrong Connect-Protocol-Version when it is required",
    path: "/dkv.v1.DkvAPI/Get",
    options: { requireConnectProtocolHeader: true },
    init: () => json('{"key":"a"}', { "Connect-Protocol-Version": "2" }),
    expect: (answer) => expect(JSON.parse(answer.body).message).toBe('Connect-Protocol-Version must be "1": got "2"'),
  },
  {
    name: "a compressed body (no compression is offered)",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => proto(Bun.gzipSync(toBinary(GetRequestSchema, create(GetRequestSchema, { key: "a" }))), { "Content-Encoding": "gzip" }),
    expect: (answer) => expect(JSON.parse(answer.body).code).toBe("unimplemented"),
  },
  {
    name: "an unsupported content type",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => ({ method: "POST", headers: { "Content-Type": "text/plain" }, body: "key=a" }),
    expect: (answer) => expect(answer.status).toBe(415),
  },
  {
    name: "native gRPC (needs HTTP/2)",
    path: "/dkv.v1.DkvAPI/Get",
    init: () => ({ method: "POST", headers: { "Content-Type": "application/grpc" }, body: new Uint8Array([0, 0, 0, 0, 0]) }),
    expect: (answer) => expect(answer.status).toBe(415),
  },
  {
    name: "GET on a unary RPC",
    path: "/dkv.v1.DkvAPI/Get?encoding=json&message=%7B%7D",
    init: () => ({ method: "GET" }),
    expect: (answer) => expect(answer.status).toBe(405),
  },
  {
    name: "an unknown path",
    path: "/v2/keys/a",
    init: () => json("{}"),
    expect: (answer) => {
      expect(answer.status).toBe(404);
      expect(answer.headers["content-type"]).toStartWith("text/plain");
      expect(answer.body).toContain("not found: POST /v2/keys/a");
      expect(answer.body).toContain("/dkv.v1.DkvAPI/Get");
      expect(answer.body).toContain("/healthz");
    },
  },
  {
    name: "an unknown method of a known service",
    path: "/dkv.v1.DkvAPI/Grant",
    init: () => json("{}"),
    expect: (answer) => expect(answer.status).toBe(404),
  },
];

// Every other unary method, once in JSON (shape checked by rpc.test.ts; here only sameness).
const everyMethod: [string, string][] = [
  ["/dkv.v1.DkvAPI/Delete", '{"key":"a"}'],
  ["/dkv.v1.DkvAPI/List", '{"prefix":""}'],
  ["/dkv.v1.DkvAPI/CompareAndSwap", '{"key":"a","value":"Yg==","compare":{"target":"TARGET_VALUE","value":"YWxwaGE="}}'],
  ["/dkv.v1.MembershipAPI/GetServers", "{}"],
  ["/dkv.v1.MembershipAPI/JoinServer", '{"id":"n2","address":"127.0.0.2:2380"}'],
  ["/dkv.v1.MembershipAPI/LeaveServer", '{"id":"n1"}'],
  ["/dkv.v1.MaintenanceAPI/Status", "{}"],
];
for (const [path, body] of everyMethod) {
  cases.push({ name: `JSON ${path}`, path, init: () => json(body), expect: (answer) => expect(answer.status).toBe(200) });
}

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(bytes(part));
      controller.close();
    },
  });
}

function chunkedBody(chunks: number, chunkBytes: number): ReadableStream<Uint8Array> {
  return streamOf(Array.from({ length: chunks }, () => "x".repeat(chunkBytes)));
}

describe("raw HTTP, lean and stock paths, in the API worker or not, answer identically", () => {
  for (const wireCase of cases) {
    test(wireCase.name, async () => {
      const { lean, stock, worker } = await trio(wireCase.options, wireCase.prepare);
      const leanAnswer = await raw(lean.api.url, wireCase.path, wireCase.init());
      const stockAnswer = await raw(stock.api.url, wireCase.path, wireCase.init());
      const workerAnswer = await raw(worker.api.url, wireCase.path, wireCase.init());
      wireCase.expect(leanAnswer);
      expect(leanAnswer).toEqual(stockAnswer);
      expect(workerAnswer).toEqual(leanAnswer);
    });
  }
});

describe("raw HTTP", () => {
  test("curl itself can call Get with JSON", async () => {
    const { api } = await pool.start({}, seededNode());
    const curl = Bun.spawn(["curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json", "-d", '{"key":"a"}', `${api.url}/dkv.v1.DkvAPI/Get`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, exitCode] = await Promise.all([new Response(curl.stdout).text(), curl.exited]);
    expect(exitCode).toBe(0);
    expect(JSON.parse(out).found).toBe(true);
  });

  test("the default limit is 2 MiB: a 1.5 MiB value is accepted, a 3 MiB body is refused", async () => {
    const { api } = await pool.start();
    const { dkv } = clientsFor("connect-binary", api.url);
    const set = await dkv.set({ key: "big", value: new Uint8Array(1.5 * 1024 * 1024).fill(7) });
    expect(set.kv?.version).toBe(1n);
    const answer = await raw(api.url, "/dkv.v1.DkvAPI/Set", proto(new Uint8Array(3 * 1024 * 1024)));
    expect(answer.status).toBe(429);
    expect(JSON.parse(answer.body).message).toBe(`message size ${3 * 1024 * 1024} is larger than configured readMaxBytes ${2 * 1024 * 1024}`);
  });

  test("a huge chunked upload is cut off after the limit, not read to the end", async () => {
    const { api } = await pool.start();
    let pulledBytes = 0;
    const chunk = new Uint8Array(64 * 1024);
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulledBytes >= 512 * 1024 * 1024) return controller.close();
        pulledBytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${api.url}/dkv.v1.DkvAPI/Set`, { method: "POST", headers: { "Content-Type": "application/proto" }, body: endless });
    expect(response.status).toBe(429);
    await response.text();
    // The 2 MiB limit plus what sits in socket buffers; never the 512 MiB on offer.
    expect(pulledBytes).toBeLessThan(16 * 1024 * 1024);
  });

  test("bodies far beyond the limit are refused by Bun before any handler runs", async () => {
    const { api } = await pool.start({ maxRequestBytes: LIMIT });
    const response = await fetch(`${api.url}/dkv.v1.DkvAPI/Set`, proto(new Uint8Array(LIMIT * 8)));
    expect(response.status).toBe(413);
  });

  test("garbage gRPC-Web frames fail the call (connect-es: internal) and the server keeps serving", async () => {
    const { api } = await pool.start({}, seededNode());
    const frame = new Uint8Array([0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
    const response = await fetch(`${api.url}/dkv.v1.DkvAPI/Get`, {
      method: "POST",
      headers: { "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1" },
      body: frame,
    });
    const body = new Uint8Array(await response.arrayBuffer());
    const trailer = new TextDecoder().decode(body.subarray(5));
    expect(body[0]).toBe(0x80);
    expect(trailer).toContain("grpc-status: 13");
    const truncated = await fetch(`${api.url}/dkv.v1.DkvAPI/Get`, {
      method: "POST",
      headers: { "Content-Type": "application/grpc-web+proto" },
      body: new Uint8Array([0, 0, 0, 0, 40, 1]),
    });
    expect(new TextDecoder().decode(new Uint8Array(await truncated.arrayBuffer()))).toContain("grpc-status: 3");
    const { dkv } = clientsFor("grpc-web", api.url);
    expect((await dkv.get({ key: "a" })).found).toBe(true);
  });

  test("a hundred malformed requests in a row leave the server serving", async () => {
    const { api } = await pool.start({}, seededNode());
    for (let i = 0; i < 100; i++) {
      const noise = crypto.getRandomValues(new Uint8Array(1 + (i % 50)));
      const contentType = i % 2 === 0 ? "application/proto" : "application/json";
      const answer = await raw(api.url, "/dkv.v1.DkvAPI/Set", { method: "POST", headers: { "Content-Type": contentType }, body: noise });
      expect(answer.status).toBeLessThan(500);
    }
    const { dkv } = clientsFor("connect-json", api.url);
    expect((await dkv.get({ key: "a" })).found).toBe(true);
  });
});
