// The RPC route table: one entry per method path ("/dkv.v1.DkvAPI/Get"),
// each answering with the lean unary path when it can and with the stock
// connect-es handler otherwise, and timing every call.
import type { DescMethodUnary, DescService } from "@bufbuild/protobuf";
import { createConnectRouter } from "@connectrpc/connect";
import { DkvAPI } from "../gen/dkv/v1/kv_pb.js";
import { MaintenanceAPI } from "../gen/dkv/v1/maintenance_pb.js";
import { MembershipAPI } from "../gen/dkv/v1/membership_pb.js";
import type { KvNode } from "../server/contract.js";
import type { ApiMetrics } from "./api-metrics.js";
import type { LogFn } from "./errors.js";
import { guardService } from "./guard.js";
import { createLeanUnaryHandler, leanCanServe, type FetchHandler } from "./lean-unary.js";
import { createDkvService, createMaintenanceService, createMembershipService, type CallContext } from "./services.js";
import { createStockHandler } from "./stock.js";

export interface RpcRouteOptions {
  node: KvNode;
  readMaxBytes: number;
  leanUnary: boolean;
  requireConnectProtocolHeader: boolean;
  shutdownSignal: AbortSignal;
  metrics: ApiMetrics;
  log: LogFn;
}

/** Route path -> handler, for Bun.serve's `routes`. */
export function createRpcRoutes(options: RpcRouteOptions): Record<string, FetchHandler> {
  const guard = { metrics: options.metrics, log: options.log };
  const implementations = new Map<DescService, object>([
    [DkvAPI, guardService(DkvAPI, createDkvService(options.node), guard)],
    [MembershipAPI, guardService(MembershipAPI, createMembershipService(options.node), guard)],
    [MaintenanceAPI, guardService(MaintenanceAPI, createMaintenanceService(options.node), guard)],
  ]);

  // Native gRPC needs HTTP/2 trailers, which Bun.serve cannot send: a gRPC
  // client gets a clear 415 rather than a broken half-answer.
  const router = createConnectRouter({
    grpc: false,
    grpcWeb: true,
    connect: true,
    readMaxBytes: options.readMaxBytes,
    requireConnectProtocolHeader: options.requireConnectProtocolHeader,
    shutdownSignal: options.shutdownSignal,
  });
  router.service(DkvAPI, implementations.get(DkvAPI)!);
  router.service(MembershipAPI, implementations.get(MembershipAPI)!);
  router.service(MaintenanceAPI, implementations.get(MaintenanceAPI)!);

  const routes: Record<string, FetchHandler> = {};
  for (const handler of router.handlers) {
    const stock = createStockHandler(handler);
    const method = handler.method;
    let lean: FetchHandler | undefined;
    if (options.leanUnary && method.methodKind === "unary") {
      const implementation = implementations.get(handler.service) as Record<string, (request: unknown, context: CallContext) => Promise<unknown>>;
      lean = createLeanUnaryHandler(method as DescMethodUnary, implementation[method.localName]!, {
        readMaxBytes: options.readMaxBytes,
        requireConnectProtocolHeader: options.requireConnectProtocolHeader,
        shutdownSignal: options.shutdownSignal,
        log: options.log,
      });
    }
    routes[handler.requestPath] = timed(options.metrics, handler.service.typeName, method.name, stock, lean);
  }
  return routes;
}

function timed(metrics: ApiMetrics, service: string, method: string, stock: FetchHandler, lean: FetchHandler | undefined): FetchHandler {
  const seconds = metrics.requestSeconds.with(service, method);
  return async function handleRpc(request: Request): Promise<Response> {
    const started = performance.now();
    metrics.requestsInFlight.inc();
    try {
      const response = lean !== undefined && leanCanServe(request) ? await lean(request) : await stock(request);
      metrics.httpResponses.with("rpc", String(response.status)).inc();
      return response;
    } finally {
      metrics.requestsInFlight.dec();
      seconds.observe((performance.now() - started) / 1000);
    }
  };
}
