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
  const responses = statusCounters(metrics);
  // The lean call is timed here rather than through measure(): one async layer less on every put and get.
  return async function handleRpc(request: Request): Promise<Response> {
    if (lean === undefined || !leanCanServe(request)) return measure(metrics, seconds, responses, () => stock(request));
    const started = performance.now();
    metrics.requestsInFlight.inc();
    try {
      const answer = await lean(fromFetchRequest(request));
      responses(answer.status).inc();
      return toResponse(answer);
    } finally {
      metrics.requestsInFlight.dec();
      seconds.observe((performance.now() - started) / 1000);
    }
  };
}

function timedUnary(metrics: ApiMetrics, seconds: Seconds, lean: LeanUnaryCall): LeanUnaryCall {
  const responses = statusCounters(metrics);
  return function handleLeanUnary(request) {
    return measure(metrics, seconds, responses, () => lean(request));
  };
}

type StatusCounter = (status: number) => { inc(): void };

/** The HTTP response counter of each status, looked up once per status rather than per call. */
function statusCounters(metrics: ApiMetrics): StatusCounter {
  const byStatus = new Map<number, { inc(): void }>();
  return (status) => {
    let counter = byStatus.get(status);
    if (counter === undefined) byStatus.set(status, (counter = metrics.httpResponses.with("rpc", String(status))));
    return counter;
  };
}

/** Counts a call in flight while `run` runs, then its HTTP status and duration. */
async function measure<T extends { status: number }>(metrics: ApiMetrics, seconds: Seconds, responses: StatusCounter, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  metrics.requestsInFlight.inc();
  try {
    const answer = await run();
    responses(answer.status).inc();
    return answer;
  } finally {
    metrics.requestsInFlight.dec();
    seconds.observe((performance.now() - started) / 1000);
  }
}
