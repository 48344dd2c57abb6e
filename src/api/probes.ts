// Plain HTTP endpoints for load balancers and Prometheus: /healthz (the
// process answers), /readyz (the node can serve linearizable traffic) and
// /metrics (the node's metrics followed by the API's own), plus the 404 text
// for everything else.
import type { KvNode } from "../server/contract.js";
import type { ApiMetrics } from "./api-metrics.js";
import type { LogFn } from "./errors.js";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const TEXT = { "Content-Type": "text/plain; charset=utf-8" };

type ProbeHandler = (request: Request) => Response | Promise<Response>;

export function createProbeRoutes(node: KvNode, metrics: ApiMetrics, log: LogFn, readyCheckTimeoutMs: number): Record<string, ProbeHandler> {
  const answered = (route: string, response: Response): Response => {
    metrics.httpResponses.with(route, String(response.status)).inc();
    return response;
  };
  return {
    "/healthz": (request) => answered("healthz", onlyGet(request) ?? healthz(node)),
    "/readyz": async (request) => answered("readyz", onlyGet(request) ?? (await readyz(node, readyCheckTimeoutMs))),
    "/metrics": (request) => answered("metrics", onlyGet(request) ?? metricsText(node, metrics, log)),
  };
}

export function notFound(request: Request, metrics: ApiMetrics, rpcPaths: readonly string[]): Response {
  metrics.httpResponses.with("not_found", "404").inc();
  const path = new URL(request.url).pathname;
  const text =
    `not found: ${request.method} ${path}\n` +
    `This is the dkv client API. Probes: GET /healthz, /readyz, /metrics. RPCs (Connect or gRPC-Web, POST):\n` +
    rpcPaths.map((rpcPath) => `  ${rpcPath}\n`).join("");
  return new Response(text, { status: 404, headers: TEXT });
}

/** Only the probe/metrics routes, for the optional plain metrics listener. */
export function notFoundOnMetricsListener(request: Request, metrics: ApiMetrics): Response {
  metrics.httpResponses.with("not_found", "404").inc();
  const path = new URL(request.url).pathname;
  return new Response(`not found: ${request.method} ${path}\nThis is the dkv metrics listener: GET /healthz, /readyz, /metrics.\n`, {
    status: 404,
    headers: TEXT,
  });
}

function onlyGet(request: Request): Response | undefined {
  if (request.method === "GET" || request.method === "HEAD") return undefined;
  return new Response(`method ${request.method} not allowed; use GET\n`, { status: 405, headers: { ...TEXT, Allow: "GET, HEAD" } });
}

function healthz(node: KvNode): Response {
  if (node.isLive()) return new Response("ok\n", { headers: TEXT });
  return new Response("not live: the node is shutting down or failed\n", { status: 503, headers: TEXT });
}

async function readyz(node: KvNode, timeoutMs: number): Promise<Response> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const readiness = await Promise.race([
      node.isReady(signal),
      new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true })),
    ]);
    if (readiness.ready) return new Response("ok\n", { headers: TEXT });
    return new Response(`not ready: ${readiness.reason}\n`, { status: 503, headers: TEXT });
  } catch (error) {
    const reason = signal.aborted ? `the readiness check did not answer within ${timeoutMs} ms` : error instanceof Error ? error.message : String(error);
    return new Response(`not ready: ${reason}\n`, { status: 503, headers: TEXT });
  }
}

function metricsText(node: KvNode, metrics: ApiMetrics, log: LogFn): Response {
  let nodeText = "";
  try {
    nodeText = node.metricsText();
    if (nodeText !== "" && !nodeText.endsWith("\n")) nodeText += "\n";
  } catch (error) {
    // Serve the API's metrics anyway; the counter makes the gap visible to alerting.
    metrics.nodeMetricsErrors.inc();
    log(`api: the node's metrics could not be rendered: ${error instanceof Error ? error.message : String(error)}`);
  }
  return new Response(nodeText + metrics.registry.render(), { headers: { "Content-Type": METRICS_CONTENT_TYPE } });
}
