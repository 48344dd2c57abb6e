// The metrics registry renders valid Prometheus text, and the strict parser
// used to check /metrics really refuses what Prometheus would.
import { describe, expect, test } from "bun:test";
import { MAX_SERIES_PER_METRIC, MetricsRegistry } from "../../src/server/metrics.ts";
import { parsePrometheusText } from "../api/prom-text.js";

describe("MetricsRegistry", () => {
  test("renders counters, gauges and histograms that the strict parser accepts", () => {
    const registry = new MetricsRegistry();
    const requests = registry.counter("app_requests_total", "Requests.\nBy method.", ["method"]);
    const temperature = registry.gauge("app_temperature_celsius", "A gauge with a \\ backslash.");
    const latency = registry.histogram("app_latency_seconds", "Latency.", ["method"], [0.1, 1]);
    requests.with("Get").inc();
    requests.with("Get").inc(2);
    requests.with('we"ird\\label\nvalue').inc();
    temperature.set(-3.5);
    latency.with("Get").observe(0.05);
    latency.with("Get").observe(0.5);
    latency.with("Get").observe(7);

    const text = registry.render();
    const families = parsePrometheusText(text);
    expect(families.get("app_requests_total")!.help).toBe("Requests.\nBy method.");
    expect(families.get("app_requests_total")!.samples.map((sample) => [sample.labels.method, sample.value])).toEqual([
      ["Get", 3],
      ['we"ird\\label\nvalue', 1],
    ]);
    expect(families.get("app_temperature_celsius")!.help).toBe("A gauge with a \\ backslash.");
    expect(families.get("app_temperature_celsius")!.samples[0]!.value).toBe(-3.5);
    const buckets = families.get("app_latency_seconds")!.samples.filter((sample) => sample.name === "app_latency_seconds_bucket");
    expect(buckets.map((sample) => [sample.labels.le, sample.value])).toEqual([
      ["0.1", 1],
      ["1", 2],
      ["+Inf", 3],
    ]);
    expect(text).toContain('app_latency_seconds_sum{method="Get"} 7.55');
    expect(text).toContain('app_latency_seconds_count{method="Get"} 3');
  });

  test("a gauge given a function shows its value at each render; set() replaces the function", () => {
    const registry = new MetricsRegistry();
    const term = registry.gauge("app_term", "Read at render time.");
    let current = 3;
    term.setFunction(() => current);
    expect(parsePrometheusText(registry.render()).get("app_term")!.samples[0]!.value).toBe(3);
    current = 7;
    expect(parsePrometheusText(registry.render()).get("app_term")!.samples[0]!.value).toBe(7);
    term.set(1);
    current = 9;
    expect(parsePrometheusText(registry.render()).get("app_term")!.samples[0]!.value).toBe(1);
  });

  test("a metric without labels renders 0 before its first use", () => {
    const registry = new MetricsRegistry();
    registry.counter("x_total", "x");
    registry.histogram("y_seconds", "y", [], [1]);
    const families = parsePrometheusText(registry.render());
    expect(families.get("x_total")!.samples[0]!.value).toBe(0);
    expect(families.get("y_seconds")!.samples.length).toBe(4);
  });

  test("refuses invalid names, duplicates, reserved labels and counters going down", () => {
    const registry = new MetricsRegistry();
    expect(() => registry.counter("bad-name_total", "x")).toThrow("not a valid Prometheus name");
    expect(() => registry.counter("ok_total", "x", ["__reserved"])).toThrow("label name");
    registry.histogram("h_seconds", "x");
    expect(() => registry.counter("h_seconds_count", "x")).toThrow("registered twice");
    expect(() => registry.histogram("h2_seconds", "x", ["le"])).toThrow("reserved");
    expect(() => registry.histogram("h3_seconds", "x", [], [1, 0.5])).toThrow("must increase");
    const counter = registry.counter("c_total", "x", ["a"]);
    expect(() => counter.with("1").inc(-1)).toThrow("only goes up");
    expect(() => counter.with()).toThrow("takes 1 label values");
  });

  test("label combinations beyond the cap are dropped, not stored", () => {
    const registry = new MetricsRegistry();
    const counter = registry.counter("many_total", "x", ["id"]);
    for (let i = 0; i < MAX_SERIES_PER_METRIC + 5; i++) counter.with(String(i)).inc();
    expect(counter.droppedSeries).toBe(5);
    expect(parsePrometheusText(registry.render()).get("many_total")!.samples.length).toBe(MAX_SERIES_PER_METRIC);
  });
});

describe("the strict Prometheus text parser", () => {
  const refused: [string, string][] = [
    ["no final newline", "# TYPE a gauge\na 1"],
    ["bad value", "# TYPE a gauge\na one\n"],
    ["two spaces", "# TYPE a gauge\na  1\n"],
    ["bad escape", '# TYPE a gauge\na{l="\\t"} 1\n'],
    ["unterminated label", '# TYPE a gauge\na{l="x} 1\n'],
    ["repeated label", '# TYPE a gauge\na{l="x",l="y"} 1\n'],
    ["TYPE after samples", "a 1\n# TYPE a gauge\n"],
    ["second TYPE", "# TYPE a gauge\n# TYPE a gauge\na 1\n"],
    ["second HELP", "# HELP a x\n# HELP a y\na 1\n"],
    ["unknown type", "# TYPE a thing\na 1\n"],
    ["interleaved families", "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n"],
    ["duplicate series", "# TYPE a gauge\na 1\na 2\n"],
    ["counter without _total", "# TYPE a counter\na 1\n"],
    ["negative counter", "# TYPE a_total counter\na_total -1\n"],
    ["histogram without +Inf", '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ["histogram not cumulative", '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ["histogram count mismatch", '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'],
    ["le on a gauge", '# TYPE a gauge\na{le="1"} 1\n'],
  ];
  for (const [why, text] of refused) {
    test(`refuses ${why}`, () => {
      expect(() => parsePrometheusText(text)).toThrow();
    });
  }

  test("accepts comments, blank lines, timestamps and special values", () => {
    const families = parsePrometheusText('# a comment\n\n# TYPE a gauge\na{l="x",} NaN 1700000000000\na{l="y"} +Inf\na{l="z"} -1e-3\n');
    expect(families.get("a")!.samples.length).toBe(3);
  });
});
