// Shared test setup: an API server on loopback around a MemoryNode, and
// generated clients over each wire format the API serves.
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { DkvAPI } from "../../src/gen/dkv/v1/kv_pb.js";
import { MaintenanceAPI } from "../../src/gen/dkv/v1/maintenance_pb.js";
import { MembershipAPI } from "../../src/gen/dkv/v1/membership_pb.js";
import { startApiServer, type ApiServerHandle, type ApiServerOptions } from "../../src/api/index.js";
import { MemoryNode } from "./memory-node.js";

export type Wire = "connect-json" | "connect-binary" | "grpc-web" | "grpc-web-json";
export const WIRES: readonly Wire[] = ["connect-json", "connect-binary", "grpc-web", "grpc-web-json"];

export interface TestApi {
  node: MemoryNode;
  api: ApiServerHandle;
  logs: string[];
}

/** Starts a server on 127.0.0.1:0; the caller must `await api.stop()` (use `stopAll` in afterEach). */
export async function startTestApi(options: Partial<ApiServerOptions> = {}, node = new MemoryNode()): Promise<TestApi> {
  const logs: string[] = [];
  const api = await startApiServer({ node, listenAddress: "127.0.0.1:0", log: (line) => logs.push(line), stopGraceMs: 200, ...options });
  return { node, api, logs };
}

export function transportFor(wire: Wire, baseUrl: string, fetchFn?: typeof fetch): Transport {
  const fetchOption = fetchFn === undefined ? {} : { fetch: fetchFn };
  switch (wire) {
    case "connect-json":
      return createConnectTransport({ baseUrl, useBinaryFormat: false, ...fetchOption });
    case "connect-binary":
      return createConnectTransport({ baseUrl, useBinaryFormat: true, ...fetchOption });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, useBinaryFormat: true, ...fetchOption });
    case "grpc-web-json":
      return createGrpcWebTransport({ baseUrl, useBinaryFormat: false, ...fetchOption });
  }
}

export interface Clients {
  dkv: Client<typeof DkvAPI>;
  membership: Client<typeof MembershipAPI>;
  maintenance: Client<typeof MaintenanceAPI>;
}

export function clientsFor(wire: Wire, baseUrl: string, fetchFn?: typeof fetch): Clients {
  const transport = transportFor(wire, baseUrl, fetchFn);
  return {
    dkv: createClient(DkvAPI, transport),
    membership: createClient(MembershipAPI, transport),
    maintenance: createClient(MaintenanceAPI, transport),
  };
}

/** Collects servers started in a test so afterEach can stop every one, even after a failed assertion. */
export class ServerPool {
  private readonly running: ApiServerHandle[] = [];
  async start(options: Partial<ApiServerOptions> = {}, node = new MemoryNode()): Promise<TestApi> {
    const started = await startTestApi(options, node);
    this.running.push(started.api);
    return started;
  }
  async stopAll(): Promise<void> {
    const stopping = this.running.splice(0).map((api) => api.stop());
    await Promise.all(stopping);
  }
}

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);
