// A strict parser for the Prometheus text exposition format 0.0.4, used to
// check /metrics. Stricter than Prometheus itself where promtool's
// `check metrics` lints are stricter (counter names end in _total) and where
// the format says "must" (TYPE before samples, one HELP/TYPE per family,
// families not interleaved, escapes, histogram shape). Throws with the line
// number and the reason on the first problem.

export type PromType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: PromType;
  help?: string;
  samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly PromType[] = ["counter", "gauge", "histogram", "summary", "untyped"];

export class PromParseError extends Error {}

export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (text !== "" && !text.endsWith("\n")) throw new PromParseError("the exposition must end with a newline");
  const families = new Map<string, PromFamily>();
  const finished = new Set<string>();
  const seenSeries = new Set<string>();
  let current: PromFamily | undefined;
  const lines = text.split("\n");
  lines.pop();
  const fail = (lineNumber: number, reason: string): never => {
    throw new PromParseError(`line ${lineNumber}: ${reason}: ${JSON.stringify(lines[lineNumber - 1])}`);
  };

  const enter = (lineNumber: number, name: string): PromFamily => {
    if (current?.name === name) return current;
    if (finished.has(name) || (families.has(name) && current?.name !== name)) fail(lineNumber, `metric family ${name} is interleaved with another family`);
    if (current !== undefined) finished.add(current.name);
    current = { name, type: "untyped", samples: [] };
    families.set(name, current);
    return current;
  };

  lines.forEach((line, index) => {
    const lineNumber = index + 1;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (match === null) return; // a comment
      const [, keyword, name, rest = ""] = match as unknown as [string, string, string, string | undefined];
      if (!METRIC_NAME.test(name)) fail(lineNumber, `invalid metric name ${name}`);
      const family = enter(lineNumber, name);
      if (keyword === "HELP") {
        if (family.help !== undefined) fail(lineNumber, `second HELP line for ${name}`);
        family.help = unescapeHelp(rest, () => fail(lineNumber, "bad escape in HELP"));
      } else {
        if (family.samples.length > 0) fail(lineNumber, `TYPE for ${name} after its samples`);
        if ((family as { typed?: boolean }).typed) fail(lineNumber, `second TYPE line for ${name}`);
        if (!TYPES.includes(rest as PromType)) fail(lineNumber, `unknown type ${JSON.stringify(rest)}`);
        family.type = rest as PromType;
        (family as { typed?: boolean }).typed = true;
      }
      return;
    }
    const sample = parseSampleLine(line, (reason) => fail(lineNumber, reason));
    const familyName = familyOf(sample.name, current);
    const family = enter(lineNumber, familyName);
    checkSampleName(family, sample, (reason) => fail(lineNumber, reason));
    const seriesKey = `${sample.name}{${Object.entries(sample.labels).sort().map(([k, v]) => `${k}=${v}`).join(",")}}`;
    if (seenSeries.has(seriesKey)) fail(lineNumber, `duplicate series ${seriesKey}`);
    seenSeries.add(seriesKey);
    family.samples.push(sample);
  });

  for (const family of families.values()) {
    delete (family as { typed?: boolean }).typed;
    if (family.type === "histogram") checkHistogram(family);
    if (family.type === "counter") {
      if (!family.name.endsWith("_total")) throw new PromParseError(`counter ${family.name} should end in _total`);
      for (const sample of family.samples) {
        if (!(sample.value >= 0)) throw new PromParseError(`counter ${sample.name} has value ${sample.value}`);
      }
    }
  }
  return families;
}

/** Samples named name_bucket/_sum/_count belong to the histogram or summary family `name` when that is current. */
function familyOf(sampleName: string, current: PromFamily | undefined): string {
  if (current !== undefined && (current.type === "histogram" || current.type === "summary")) {
    for (const suffix of ["_bucket", "_sum", "_count"]) {
      if (sampleName === current.name + suffix) return current.name;
    }
  }
  return sampleName;
}

function checkSampleName(family: PromFamily, sample: PromSample, fail: (reason: string) => never): void {
  if (family.type === "histogram") {
    if (![`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(sample.name)) fail(`sample ${sample.name} in histogram ${family.name}`);
    if ((sample.name.endsWith("_bucket")) !== ("le" in sample.labels)) fail(`le label only (and always) on ${family.name}_bucket`);
  } else if (family.type !== "summary" && "le" in sample.labels) {
    fail(`le label on a ${family.type}`);
  }
}

function checkHistogram(family: PromFamily): void {
  const series = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (sample.name.endsWith("_bucket")) {
      const bound = parseFloatStrict(le!);
      if (bound === undefined) throw new PromParseError(`${family.name}: le="${le}" is not a number`);
      entry.buckets.push([bound, sample.value]);
    } else if (sample.name.endsWith("_sum")) entry.sum = sample.value;
    else entry.count = sample.value;
  }
  for (const [key, entry] of series) {
    const where = `${family.name}${key}`;
    if (entry.count === undefined || entry.sum === undefined) throw new PromParseError(`${where}: missing _sum or _count`);
    const last = entry.buckets.at(-1);
    if (last === undefined || last[0] !== Infinity) throw new PromParseError(`${where}: the last bucket must be le="+Inf"`);
    if (last[1] !== entry.count) throw new PromParseError(`${where}: +Inf bucket ${last[1]} != _count ${entry.count}`);
    for (let i = 1; i < entry.buckets.length; i++) {
      const [bound, value] = entry.buckets[i]!;
      const [previousBound, previousValue] = entry.buckets[i - 1]!;
      if (bound <= previousBound) throw new PromParseError(`${where}: le bounds must increase`);
      if (value < previousValue) throw new PromParseError(`${where}: buckets must be cumulative`);
    }
  }
}

function parseSampleLine(line: string, fail: (reason: string) => never): PromSample {
  let position = 0;
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (nameMatch === null) fail("expected a metric name");
  const name = nameMatch![0];
  position = name.length;
  const labels: Record<string, string> = {};
  if (line[position] === "{") {
    position++;
    for (;;) {
      if (line[position] === "}") {
        position++;
        break;
      }
      const labelMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(position));
      if (labelMatch === null) fail("expected a label name");
      const labelName = labelMatch![0];
      if (!LABEL_NAME.test(labelName) || labelName.startsWith("__")) fail(`invalid label name ${labelName}`);
      if (labelName in labels) fail(`repeated label ${labelName}`);
      position += labelName.length;
      if (line.slice(position, position + 2) !== '="') fail(`expected ="" after label ${labelName}`);
      position += 2;
      let value = "";
      for (;;) {
        const ch = line[position];
        if (ch === undefined) fail("unterminated label value");
        if (ch === '"') break;
        if (ch === "\\") {
          const next = line[position + 1];
          if (next === "\\") value += "\\";
          else if (next === '"') value += '"';
          else if (next === "n") value += "\n";
          else fail(`bad escape \\${next ?? ""} in label value`);
          position += 2;
          continue;
        }
        value += ch;
        position++;
      }
      position++; // closing quote
      labels[labelName] = value;
      if (line[position] === ",") position++;
      else if (line[position] !== "}") fail("expected , or } after a label");
    }
  }
  const rest = line.slice(position);
  const valueMatch = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (valueMatch === null) fail("expected one space, a value and an optional timestamp");
  const value = parseFloatStrict(valueMatch![1]!);
  if (value === undefined) fail(`value ${valueMatch![1]} is not a float`);
  return { name, labels, value: value! };
}

/** Go's strconv.ParseFloat spellings that Prometheus accepts. */
function parseFloatStrict(text: string): number | undefined {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

function unescapeHelp(text: string, fail: () => never): string {
  return text.replace(/\\(.?)/g, (_, ch: string) => {
    if (ch === "\\") return "\\";
    if (ch === "n") return "\n";
    return fail();
  });
}
