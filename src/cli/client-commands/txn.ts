// `dkv txn [FILE]`: one transaction, written as JSON (FILE, or standard input
// when absent or "-"):
//   {"compare": [{"key": "k", "target": "version", "result": "equal", "number": 0}],
//    "success": [{"put": {"key": "k", "value": "v"}}, {"get": {"key": "k"}},
//                {"list": {"prefix": "k/", "limit": 10}}],
//    "failure": [{"get": {"key": "k"}}]}
// Prints SUCCESS or FAILURE (which branch ran), then one line per op result;
// exits 0 either way, as etcdctl txn does. Never retried once sent.
import { defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import type { TxnCompare, TxnOp, TxnOpResult, TxnRequest } from "../../client/index.ts";
import { clientArgs, withClient } from "./flags.ts";
import { keyValueJson, printJson, valueCell, writeStdout } from "./output.ts";

export const txnCommand = defineCommand({
  meta: { name: "txn", description: "Run a transaction given as JSON: compares, then the success or the failure ops, atomically" },
  args: {
    file: { type: "positional", required: false, description: "JSON file with compare/success/failure (default, or -: standard input)" },
    ...clientArgs,
  },
  async run({ args }) {
    const source = args.file === undefined || args.file === "-" ? Bun.stdin : Bun.file(args.file);
    let text: string;
    try {
      text = await source.text();
    } catch (error) {
      throw new UsageError(`cannot read ${args.file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const request = parseTxn(text);
    await withClient(args, async (client, output) => {
      const result = await client.txn(request);
      if (output === "json") return printJson({ succeeded: result.succeeded, revision: result.header.revision, results: result.results.map(resultJson) });
      writeStdout(`${result.succeeded ? "SUCCESS" : "FAILURE"}\n`);
      for (const line of result.results.map(resultLine)) writeStdout(line);
    });
  },
});

const TARGETS = new Set(["value", "version", "mod_revision", "create_revision", "lease"]);
const RESULTS = new Set(["equal", "not_equal", "greater", "less"]);

/** The JSON document as a TxnRequest, or a UsageError naming the first thing wrong with it. */
export function parseTxn(text: string): TxnRequest {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the transaction is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(document)) throw new UsageError('the transaction must be a JSON object with "compare", "success" and "failure" lists');
  for (const field of Object.keys(document)) {
    if (!["compare", "success", "failure"].includes(field)) throw new UsageError(`unknown field "${field}" in the transaction (use compare, success, failure)`);
  }
  return {
    compare: list(document, "compare").map((c, i) => parseCompare(c, `compare[${i}]`)),
    success: list(document, "success").map((op, i) => parseOp(op, `success[${i}]`)),
    failure: list(document, "failure").map((op, i) => parseOp(op, `failure[${i}]`)),
  };
}

function parseCompare(value: unknown, where: string): TxnCompare {
  if (!isObject(value)) throw new UsageError(`${where} must be an object`);
  const key = requireString(value, "key", where);
  const target = value.target ?? "value";
  if (typeof target !== "string" || !TARGETS.has(target)) throw new UsageError(`${where}.target must be one of ${[...TARGETS].join(", ")}`);
  const result = value.result ?? "equal";
  if (typeof result !== "string" || !RESULTS.has(result)) throw new UsageError(`${where}.result must be one of ${[...RESULTS].join(", ")}`);
  const compare: TxnCompare = { key, target: target as TxnCompare["target"], result: result as NonNullable<TxnCompare["result"]> };
  if (target === "value") compare.value = requireString(value, "value", where);
  else compare.number = requireCount(value, "number", where);
  return compare;
}

function parseOp(value: unknown, where: string): TxnOp {
  if (!isObject(value) || Object.keys(value).length !== 1) throw new UsageError(`${where} must be an object with exactly one of put, delete, get, list`);
  const [kind, body] = Object.entries(value)[0]!;
  if (!isObject(body)) throw new UsageError(`${where}.${kind} must be an object`);
  const at = `${where}.${kind}`;
  switch (kind) {
    case "put":
      return { put: { key: requireString(body, "key", at), value: requireString(body, "value", at), ...(body.lease !== undefined ? { lease: requireCount(body, "lease", at) } : {}) } };
    case "delete":
      return { delete: { key: requireString(body, "key", at), prefix: body.prefix === true, ...(typeof body.range_end === "string" ? { rangeEnd: body.range_end } : {}) } };
    case "get":
      return { get: { key: requireString(body, "key", at) } };
    case "list":
      return { list: parseList(body, at) };
    default:
      throw new UsageError(`${where} must be one of put, delete, get, list; not "${kind}"`);
  }
}

const LIST_FIELDS = new Set(["prefix", "key", "range_end", "limit", "keys_only", "count_only"]);

/** A list op: {"prefix": P} or {"key": K, "range_end": E}, with limit, keys_only, count_only. */
function parseList(body: Record<string, unknown>, at: string): Extract<TxnOp, { list: unknown }>["list"] {
  for (const field of Object.keys(body)) if (!LIST_FIELDS.has(field)) throw new UsageError(`unknown field "${field}" in ${at} (use ${[...LIST_FIELDS].join(", ")})`);
  const flag = (field: string) => {
    if (body[field] !== undefined && typeof body[field] !== "boolean") throw new UsageError(`${at}.${field} must be true or false`);
    return body[field] === true;
  };
  const shape = { limit: body.limit === undefined ? 0 : requireCount(body, "limit", at), keysOnly: flag("keys_only"), countOnly: flag("count_only") };
  if (body.range_end === undefined) return { prefix: body.prefix === undefined ? "" : requireString(body, "prefix", at), ...shape };
  if (body.prefix !== undefined) throw new UsageError(`${at} takes "prefix" or "key" with "range_end", not both`);
  return { key: body.key === undefined ? "" : requireString(body, "key", at), rangeEnd: requireString(body, "range_end", at), ...shape };
}

function resultLine(result: TxnOpResult): string {
  if ("put" in result) return `put ${JSON.stringify(result.put.kv.key)} revision=${result.put.kv.modRevision}\n`;
  if ("delete" in result) return `delete ${result.delete.deletedCount} key(s)\n`;
  if ("list" in result) {
    const { kvs, more, count } = result.list;
    if (kvs.length === 0 && count > 0) return `list: ${count} key(s)\n`;
    // Keys only (or empty values) print without a value cell.
    const lines = kvs.map((kv) => `  ${JSON.stringify(kv.key)}${kv.value.byteLength > 0 ? ` ${valueCell(kv.value)}` : ""} revision=${kv.modRevision}\n`).join("");
    return `list ${kvs.length} key(s)${more ? " (more match)" : ""}\n${lines}`;
  }
  const kv = result.get.kv;
  return kv === undefined ? "get: not found\n" : `get ${JSON.stringify(kv.key)} ${valueCell(kv.value)} revision=${kv.modRevision}\n`;
}

function resultJson(result: TxnOpResult) {
  if ("put" in result) return { put: keyValueJson(result.put.kv) };
  if ("delete" in result) return { delete: { deleted_count: result.delete.deletedCount } };
  if ("list" in result) return { list: { kvs: result.list.kvs.map((kv) => keyValueJson(kv)), more: result.list.more, count: result.list.count } };
  return { get: result.get.kv === undefined ? { found: false } : { found: true, ...keyValueJson(result.get.kv) } };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function list(document: Record<string, unknown>, field: string): unknown[] {
  const value = document[field];
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new UsageError(`"${field}" must be a list`);
  return value;
}

function requireString(value: Record<string, unknown>, field: string, where: string): string {
  const text = value[field];
  if (typeof text !== "string") throw new UsageError(`${where}.${field} must be a string`);
  return text;
}

function requireCount(value: Record<string, unknown>, field: string, where: string): number {
  const n = value[field];
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`${where}.${field} must be a whole number`);
  return n;
}
