// The client API's own metrics, appended to the node's on /metrics.
import { DEFAULT_SECONDS_BUCKETS, MetricsRegistry, type Counter, type Gauge, type Histogram } from "../server/metrics.js";

export interface ApiMetrics {
  readonly registry: MetricsRegistry;
  /** RPCs that reached a service method, by result code (Connect code name, "ok" on success). */
  readonly requests: Counter;
  /** Receive-to-response time per RPC; for a stream, until its first message is ready. */
  readonly requestSeconds: Histogram;
  readonly requestsInFlight: Gauge;
  /** Every HTTP answer by route kind and status, including ones refused before decoding. */
  readonly httpResponses: Counter;
  readonly nodeMetricsErrors: Counter;
}

export function createApiMetrics(): ApiMetrics {
  const registry = new MetricsRegistry();
  return {
    registry,
    requests: registry.counter("dkv_api_requests_total", "RPCs served by the client API, by service, method and result code.", ["service", "method", "code"]),
    requestSeconds: registry.histogram(
      "dkv_api_request_duration_seconds",
      "Time from receiving an RPC to having its response ready (for streams: the first message).",
      ["service", "method"],
      DEFAULT_SECONDS_BUCKETS,
    ),
    requestsInFlight: registry.gauge("dkv_api_requests_in_flight", "RPCs being served right now."),
    httpResponses: registry.counter("dkv_api_http_responses_total", "HTTP responses of the client API by route and status.", ["route", "status"]),
    nodeMetricsErrors: registry.counter("dkv_api_node_metrics_errors_total", "Scrapes where the node's own metrics could not be rendered (see the server log)."),
  };
}
