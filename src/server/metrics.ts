// The one metrics registry: counters, gauges and histograms with labels,
// rendered in the Prometheus text exposition format (version 0.0.4). The node
// registers its own here (node-metrics.ts) and the client API its own
// (api/api-metrics.ts: api may import from server, not the reverse). Imports
// nothing from the project. Bounded: label values come from our code, and a
// metric refuses combinations past MAX_SERIES_PER_METRIC.

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label combinations one metric may hold; past this, new combinations are dropped (and counted). */
export const MAX_SERIES_PER_METRIC = 10_000;

/** Latency buckets in seconds, 100 µs to 10 s: fits both loopback RPCs and fsync-bound writes. */
export const DEFAULT_SECONDS_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

type MetricType = "counter" | "gauge" | "histogram";

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  render(lines: string[]): void;
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  private readonly names = new Set<string>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    bucketUpperBounds: readonly number[] = DEFAULT_SECONDS_BUCKETS,
  ): Histogram {
    return this.add(new Histogram(name, help, labelNames, bucketUpperBounds));
  }

  /** The whole registry in Prometheus text format; ends with a newline unless empty. */
  render(): string {
    const lines: string[] = [];
    for (const metric of this.metrics) {
      lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`);
      lines.push(`# TYPE ${metric.name} ${metric.type}`);
      metric.render(lines);
    }
    return lines.length === 0 ? "" : lines.join("\n") + "\n";
  }

  private add<M extends Metric>(metric: M): M {
    // A histogram also owns name_bucket, name_sum and name_count.
    const owned = metric.type === "histogram" ? [metric.name, `${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`] : [metric.name];
    for (const name of owned) {
      if (this.names.has(name)) throw new Error(`metric ${name} is registered twice`);
    }
    for (const name of owned) this.names.add(name);
    this.metrics.push(metric);
    return metric;
  }
}

/** Series keyed by their label values; the shared part of every metric type. */
abstract class Family<Child> implements Metric {
  abstract readonly type: MetricType;
  /** Label combinations refused because the metric already held MAX_SERIES_PER_METRIC. */
  droppedSeries = 0;
  private readonly children = new Map<string, { labels: string; child: Child }>();
  /** Where observations for refused label combinations go (never rendered). */
  private dropped: Child | undefined;
  /** The one series of a metric without labels, kept at hand: inc() and observe() run per request. */
  private unlabeled: Child | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not a valid Prometheus name`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) {
        throw new Error(`metric ${name}: label name ${JSON.stringify(label)} is not valid`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`metric ${name}: repeated label name`);
  }

  /** The series for these label values (in labelNames order), created on first use. */
  with(...labelValues: string[]): Child {
    if (labelValues.length !== this.labelNames.length) {
      throw new Error(`metric ${this.name} takes ${this.labelNames.length} label values, got ${labelValues.length}`);
    }
    const key = labelValues.join("\u0000");
    const found = this.children.get(key);
    if (found !== undefined) return found.child;
    if (this.children.size >= MAX_SERIES_PER_METRIC) {
      // Unbounded label values are a bug in the caller; never let them grow memory.
      this.droppedSeries++;
      this.dropped ??= this.newChild();
      return this.dropped;
    }
    const labels = this.labelNames.map((label, i) => `${label}="${escapeLabelValue(labelValues[i]!)}"`).join(",");
    const child = this.newChild();
    this.children.set(key, { labels, child });
    return child;
  }

  /** The series of a metric without labels (throws, like with(), if it has labels). */
  protected single(): Child {
    return (this.unlabeled ??= this.with());
  }

  render(lines: string[]): void {
    for (const { labels, child } of this.children.values()) this.renderChild(lines, labels, child);
  }

  protected abstract newChild(): Child;
  protected abstract renderChild(lines: string[], labels: string, child: Child): void;
}

export class CounterChild {
  value = 0;
  inc(amount = 1): void {
    if (!(amount >= 0)) throw new Error(`a counter only goes up; got ${amount}`);
    this.value += amount;
  }
}

export class Counter extends Family<CounterChild> {
  readonly type = "counter";
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames);
    // Without labels the single series exists from the start, so it renders as 0.
    if (labelNames.length === 0) this.with();
  }
  inc(amount = 1): void {
    this.single().inc(amount);
  }
  protected newChild(): CounterChild {
    return new CounterChild();
  }
  protected renderChild(lines: string[], labels: string, child: CounterChild): void {
    lines.push(`${this.name}${braces(labels)} ${formatValue(child.value)}`);
  }
}

export class GaugeChild {
  value = 0;
  /** When set, the value is read from here at each render (e.g. the raft term). */
  source: (() => number) | undefined = undefined;
  set(value: number): void {
    this.value = value;
    this.source = undefined;
  }
  /** The value is whatever `source` returns when the registry is rendered. */
  setFunction(source: () => number): void {
    this.source = source;
  }
  inc(amount = 1): void {
    this.value += amount;
  }
  dec(amount = 1): void {
    this.value -= amount;
  }
}

export class Gauge extends Family<GaugeChild> {
  readonly type = "gauge";
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames);
    if (labelNames.length === 0) this.with();
  }
  set(value: number): void {
    this.single().set(value);
  }
  setFunction(source: () => number): void {
    this.single().setFunction(source);
  }
  inc(amount = 1): void {
    this.single().inc(amount);
  }
  dec(amount = 1): void {
    this.single().dec(amount);
  }
  protected newChild(): GaugeChild {
    return new GaugeChild();
  }
  protected renderChild(lines: string[], labels: string, child: GaugeChild): void {
    lines.push(`${this.name}${braces(labels)} ${formatValue(child.source === undefined ? child.value : child.source())}`);
  }
}

export class HistogramChild {
  /** Per-bucket (not cumulative) counts; the last slot is the +Inf bucket. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(private readonly upperBounds: readonly number[]) {
    this.counts = new Array<number>(upperBounds.length + 1).fill(0);
  }
  observe(value: number): void {
    let i = 0;
    while (i < this.upperBounds.length && value > this.upperBounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class Histogram extends Family<HistogramChild> {
  readonly type = "histogram";
  readonly upperBounds: readonly number[];
  constructor(name: string, help: string, labelNames: readonly string[], upperBounds: readonly number[]) {
    if (labelNames.includes("le")) throw new Error(`histogram ${name}: "le" is reserved for buckets`);
    if (upperBounds.length === 0) throw new Error(`histogram ${name}: needs at least one bucket`);
    for (let i = 0; i < upperBounds.length; i++) {
      const bound = upperBounds[i]!;
      if (!Number.isFinite(bound)) throw new Error(`histogram ${name}: bucket bounds must be finite (+Inf is implied)`);
      if (i > 0 && bound <= upperBounds[i - 1]!) throw new Error(`histogram ${name}: bucket bounds must increase`);
    }
    super(name, help, labelNames);
    this.upperBounds = [...upperBounds];
    if (labelNames.length === 0) this.with();
  }
  observe(value: number): void {
    this.single().observe(value);
  }
  protected newChild(): HistogramChild {
    return new HistogramChild(this.upperBounds);
  }
  protected renderChild(lines: string[], labels: string, child: HistogramChild): void {
    const prefix = labels === "" ? "" : `${labels},`;
    let cumulative = 0;
    for (let i = 0; i < this.upperBounds.length; i++) {
      cumulative += child.counts[i]!;
      lines.push(`${this.name}_bucket{${prefix}le="${formatValue(this.upperBounds[i]!)}"} ${cumulative}`);
    }
    lines.push(`${this.name}_bucket{${prefix}le="+Inf"} ${child.count}`);
    lines.push(`${this.name}_sum${braces(labels)} ${formatValue(child.sum)}`);
    lines.push(`${this.name}_count${braces(labels)} ${child.count}`);
  }
}

function braces(labels: string): string {
  return labels === "" ? "" : `{${labels}}`;
}

/** Go's ParseFloat spellings, which Prometheus reads: +Inf, -Inf, NaN. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
