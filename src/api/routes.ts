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
import type { Authenticator } from "./auth.js";
import { createLeanUnaryCall, fromFetchRequest, leanCanServe, toResponse, type FetchHandler, type LeanUnaryCall } from "./lean-unary.js";
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
  /** Users and roles; absent: no authentication. */
  auth?: Authenticator;
}

export interface RpcRoutes {
  /** Route path -> handler, for Bun.serve's `routes`. */
  fetch: Record<string, FetchHandler>;
  /** Route path -> the lean path of a unary method apart from HTTP (the API worker's calls), when leanUnary is on. */
  unary: Record<string, LeanUnaryCall>;
}

export function createRpcRoutes(options: RpcRouteOptions): RpcRoutes {
  const guard = { metrics: options.metrics, log: options.log, ...(options.auth !== undefined ? { auth: options.auth } : {}) };
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

  const routes: RpcRoutes = { fetch: {}, unary: {} };
  for (const handler of router.handlers) {
    const stock = createStockHandler(handler);
    const method = handler.method;
    const seconds = options.metrics.requestSeconds.with(handler.service.typeName, method.name);
    let lean: LeanUnaryCall | undefined;
    if (options.leanUnary && method.methodKind === "unary") {
      const implementation = implementations.get(handler.service) as Record<string, (request: unknown, context: CallContext) => Promise<unknown>>;
      lean = createLeanUnaryCall(method as DescMethodUnary, implementation[method.localName]!, {
        readMaxBytes: options.readMaxBytes,
        requireConnectProtocolHeader: options.requireConnectProtocolHeader,
        shutdownSignal: options.shutdownSignal,
        log: options.log,
      });
      routes.unary[handler.requestPath] = timedUnary(options.metrics, seconds, lean);
    }
    routes.fetch[handler.requestPath] = timed(options.metrics, seconds, stock, lean);
  }
  return routes;
}

type Seconds = ReturnType<ApiMetrics["requestSeconds"]["with"]>;

function timed(metrics: ApiMetrics, seconds: Seconds, stock: FetchHandler, lean: LeanUnaryCall | undefined): FetchHandler {
  const meter = callMeter(metrics, seconds);
  // Timed inline rather than through a wrapping async function: one async layer less on every put and get.
  return async function handleRpc(request: Request): Promise<Response> {
    const started = meter.start();
    let status: number | undefined;
    try {
      const response = lean !== undefined && leanCanServe(request) ? toResponse(await lean(fromFetchRequest(request))) : await stock(request);
      status = response.status;
      return response;
    } finally {
      meter.end(started, status);
    }
  };
}

function timedUnary(metrics: ApiMetrics, seconds: Seconds, lean: LeanUnaryCall): LeanUnaryCall {
  const meter = callMeter(metrics, seconds);
  return async function handleLeanUnary(request) {
    const started = meter.start();
    let status: number | undefined;
    try {
      const answer = await lean(request);
      status = answer.status;
      return answer;
    } finally {
      meter.end(started, status);
    }
  };
}

interface CallMeter {
  /** Counts a call in flight; returns its start time for end(). */
  start(): number;
  /** The call ended: with an HTTP status, or undefined when it threw. */
  end(started: number, status: number | undefined): void;
}

/** Calls in flight, their duration and their HTTP status; each status's counter is looked up once, not per call. */
function callMeter(metrics: ApiMetrics, seconds: Seconds): CallMeter {
  const byStatus = new Map<number, { inc(): void }>();
  return {
    start() {
      metrics.requestsInFlight.inc();
      return performance.now();
    },
    end(started, status) {
      metrics.requestsInFlight.dec();
      seconds.observe((performance.now() - started) / 1000);
      if (status === undefined) return;
      let counter = byStatus.get(status);
      if (counter === undefined) byStatus.set(status, (counter = metrics.httpResponses.with("rpc", String(status))));
      counter.inc();
    },
  };
}
