// The workload both stores get, byte for byte the same keys and values: a
// 10,000-key space, keys 8-16 bytes, values 256 bytes. Every request of every
// path is encoded here once, before any clock starts, so the load generator's
// per-call cost is only the transport's.
import { hasField, ProtoWriter } from "./protowire.ts";

export const KEY_COUNT_DEFAULT = 10_000;
export const VALUE_BYTES = 256;

/** The four client paths measured, two per store. */
export type PathName = "etcd-grpc" | "etcd-json" | "dkv-proto" | "dkv-json";
export const PATHS: readonly PathName[] = ["etcd-grpc", "etcd-json", "dkv-proto", "dkv-json"];

export type OpName = "put" | "get-lin" | "get-ser" | "mix";

/** Key i: 8 bytes of "bk:" + 5 digits, padded with 0-8 more bytes so lengths spread over 8-16. */
export function keyOf(i: number): string {
  return `bk:${String(i).padStart(5, "0")}${"x".repeat(i % 9)}`;
}

/** A deterministic 256-byte value per key (xorshift32): incompressible, and the same on every run. */
export function valueOf(i: number): Uint8Array {
  const out = new Uint8Array(VALUE_BYTES);
  let s = (i * 2654435761 + 1) >>> 0 || 1;
  for (let j = 0; j < VALUE_BYTES; j++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[j] = s & 0xff;
  }
  return out;
}

const utf8 = new TextEncoder();
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/** One request of one path: what goes on the wire, and where. */
export interface EncodedRequests {
  /** HTTP path of the put (or Set) call. */
  putPath: string;
  getPath: string;
  /** Bodies, indexed by key number. For gRPC they include the 5-byte message prefix. */
  put: Uint8Array[];
  getLinearizable: Uint8Array[];
  getSerializable: Uint8Array[];
  contentType: string;
}

function grpcFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

export function encodeRequests(path: PathName, keyCount: number): EncodedRequests {
  const put: Uint8Array[] = [];
  const getLinearizable: Uint8Array[] = [];
  const getSerializable: Uint8Array[] = [];
  for (let i = 0; i < keyCount; i++) {
    const key = keyOf(i);
    const keyBytes = utf8.encode(key);
    const value = valueOf(i);
    switch (path) {
      case "etcd-grpc":
        // etcdserverpb.PutRequest{key=1, value=2}; RangeRequest{key=1, serializable=7}.
        put.push(grpcFrame(new ProtoWriter().field(1, keyBytes).field(2, value).finish()));
        getLinearizable.push(grpcFrame(new ProtoWriter().field(1, keyBytes).finish()));
        getSerializable.push(grpcFrame(new ProtoWriter().field(1, keyBytes).uint(7, 1).finish()));
        break;
      case "etcd-json":
        // The grpc-gateway's JSON mapping: bytes fields are base64.
        put.push(utf8.encode(JSON.stringify({ key: b64(keyBytes), value: b64(value) })));
        getLinearizable.push(utf8.encode(JSON.stringify({ key: b64(keyBytes) })));
        getSerializable.push(utf8.encode(JSON.stringify({ key: b64(keyBytes), serializable: true })));
        break;
      case "dkv-proto":
        // dkv.v1.SetRequest{key=1, value=2}; GetRequest{key=1, consistency=2 (1 = serializable)}.
        put.push(new ProtoWriter().field(1, keyBytes).field(2, value).finish());
        getLinearizable.push(new ProtoWriter().field(1, keyBytes).finish());
        getSerializable.push(new ProtoWriter().field(1, keyBytes).uint(2, 1).finish());
        break;
      case "dkv-json":
        put.push(utf8.encode(JSON.stringify({ key, value: b64(value) })));
        getLinearizable.push(utf8.encode(JSON.stringify({ key })));
        getSerializable.push(utf8.encode(JSON.stringify({ key, consistency: "CONSISTENCY_SERIALIZABLE" })));
        break;
    }
  }
  switch (path) {
    case "etcd-grpc":
      return { putPath: "/etcdserverpb.KV/Put", getPath: "/etcdserverpb.KV/Range", put, getLinearizable, getSerializable, contentType: "application/grpc" };
    case "etcd-json":
      return { putPath: "/v3/kv/put", getPath: "/v3/kv/range", put, getLinearizable, getSerializable, contentType: "application/json" };
    case "dkv-proto":
      return { putPath: "/dkv.v1.DkvAPI/Set", getPath: "/dkv.v1.DkvAPI/Get", put, getLinearizable, getSerializable, contentType: "application/proto" };
    case "dkv-json":
      return { putPath: "/dkv.v1.DkvAPI/Set", getPath: "/dkv.v1.DkvAPI/Get", put, getLinearizable, getSerializable, contentType: "application/json" };
  }
}

/**
 * Whether a get's response body says the key was found. Every key is written
 * before the gets run, so "not found" means the read was wrong or empty, and
 * the benchmark counts it as a failed operation rather than a fast one.
 * For gRPC the body still has its 5-byte message prefix.
 */
export function foundInBody(path: PathName, body: Uint8Array): boolean {
  switch (path) {
    case "etcd-grpc":
      return hasField(body, 2, 5); // RangeResponse.kvs
    case "etcd-json":
      return Buffer.from(body.buffer, body.byteOffset, body.length).indexOf('"kvs"') >= 0;
    case "dkv-proto":
      return hasField(body, 2); // GetResponse.found (proto3 omits false)
    case "dkv-json":
      return Buffer.from(body.buffer, body.byteOffset, body.length).indexOf('"found":true') >= 0;
  }
}
