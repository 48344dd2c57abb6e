// /healthz, /readyz and /metrics on the client port and on the optional
// plain metrics listener; /metrics must pass the strict text-format parser.
import { afterEach, describe, expect, test } from "bun:test";
import { ServerPool, bytes, clientsFor } from "./harness.js";
import { parsePrometheusText } from "./prom-text.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

describe("probes", () => {
  test("/healthz answers 200 ok while the node is live, 503 when it is not", async () => {
    const { api, node } = await pool.start();
    const up = await fetch(`${api.url}/healthz`);
    expect(up.status).toBe(200);
    expect(await up.text()).toBe("ok\n");
    node.live = false;
    expect((await fetch(`${api.url}/healthz`)).status).toBe(503);
  });

  test("/readyz follows the node: 200 when ready, 503 with the reason when not", async () => {
    const { api, node } = await pool.start();
    expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
    node.readiness = { ready: false, reason: "no leader for 3 s" };
    const notReady = await fetch(`${api.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe("not ready: no leader for 3 s\n");
  });

  test("/readyz answers 503 when the readiness check fails or hangs", async () => {
    const { api, node } = await pool.start({ readyCheckTimeoutMs: 100 });
    node.failNext.set("isReady", new Error("storage closed"));
    expect(await (await fetch(`${api.url}/readyz`)).text()).toBe("not ready: storage closed\n");
    node.hang.set("isReady", { ignoreSignal: true });
    const hung = await fetch(`${api.url}/readyz`);
    expect(hung.status).toBe(503);
    expect(await hung.text()).toBe("not ready: the readiness check did not answer within 100 ms\n");
  });

  test("probes only take GET (and HEAD)", async () => {
    const { api } = await pool.start();
    const posted = await fetch(`${api.url}/healthz`, { method: "POST" });
    expect(posted.status).toBe(405);
    expect(posted.headers.get("allow")).toBe("GET, HEAD");
    expect((await fetch(`${api.url}/metrics`, { method: "HEAD" })).status).toBe(200);
  });
});

describe("/metrics", () => {
  test("is valid Prometheus text with the node's metrics and the API's request counters", async () => {
    const { api, node } = await pool.start();
    const { dkv } = clientsFor("connect-json", api.url);
    await dkv.set({ key: "a", value: bytes("1") });
    await dkv.get({ key: "a" });
    await dkv.get({ key: "" }).catch(() => {});
    node.failNext.set("get", new Error("boom"));
    await dkv.get({ key: "a" }).catch(() => {});
    await fetch(`${api.url}/nowhere`);

    const response = await fetch(`${api.url}/metrics`);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const families = parsePrometheusText(await response.text());

    expect(families.get("dkv_node_term")?.samples[0]?.value).toBe(7);
    const requests = families.get("dkv_api_requests_total")!;
    expect(requests.type).toBe("counter");
    const count = (method: string, code: string) =>
      requests.samples.find((sample) => sample.labels.method === method && sample.labels.code === code && sample.labels.service === "dkv.v1.DkvAPI")?.value;
    expect(count("Set", "ok")).toBe(1);
    expect(count("Get", "ok")).toBe(1);
    expect(count("Get", "invalid_argument")).toBe(1);
    expect(count("Get", "internal")).toBe(1);

    const latency = families.get("dkv_api_request_duration_seconds")!;
    expect(latency.type).toBe("histogram");
    const getCount = latency.samples.find((sample) => sample.name.endsWith("_count") && sample.labels.method === "Get");
    expect(getCount?.value).toBe(3);

    const http = families.get("dkv_api_http_responses_total")!;
    expect(http.samples.find((sample) => sample.labels.route === "not_found")?.value).toBe(1);
    expect(http.samples.find((sample) => sample.labels.route === "rpc" && sample.labels.status === "400")?.value).toBe(1);
    // Each status keeps its own series (the counters are looked up once per status and reused).
    expect(http.samples.find((sample) => sample.labels.route === "rpc" && sample.labels.status === "200")?.value).toBe(2);
    expect(http.samples.find((sample) => sample.labels.route === "rpc" && sample.labels.status === "500")?.value).toBe(1);
    expect(families.get("dkv_api_requests_in_flight")?.samples[0]?.value).toBe(0);
  });

  test("the node's text is served even without a final newline; a failing node still leaves the API's metrics", async () => {
    const { api, node, logs } = await pool.start();
    node.metricsTextValue = "# TYPE dkv_node_up gauge\ndkv_node_up 1";
    const families = parsePrometheusText(await (await fetch(`${api.url}/metrics`)).text());
    expect(families.get("dkv_node_up")?.samples[0]?.value).toBe(1);

    node.metricsText = () => {
      throw new Error("registry locked");
    };
    const afterFailure = parsePrometheusText(await (await fetch(`${api.url}/metrics`)).text());
    expect(afterFailure.has("dkv_node_up")).toBe(false);
    expect(afterFailure.get("dkv_api_node_metrics_errors_total")?.samples[0]?.value).toBe(1);
    expect(logs.some((line) => line.includes("registry locked"))).toBe(true);
  });
});

describe("the plain metrics listener", () => {
  test("serves only /healthz, /readyz and /metrics, over plain HTTP", async () => {
    const { api } = await pool.start({ metricsListenAddress: "127.0.0.1:0" });
    const metricsUrl = api.metrics!.url;
    expect(metricsUrl).toStartWith("http://127.0.0.1:");
    expect(api.metrics!.port).not.toBe(api.port);
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${metricsUrl}/readyz`)).status).toBe(200);
    parsePrometheusText(await (await fetch(`${metricsUrl}/metrics`)).text());
    const rpc = await fetch(`${metricsUrl}/dkv.v1.DkvAPI/Get`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"key":"a"}' });
    expect(rpc.status).toBe(404);
    expect(await rpc.text()).toContain("dkv metrics listener");
  });
});
