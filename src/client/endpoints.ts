// Endpoint syntax: "host:port", "[v6]:port", or with an explicit "http://" or
// "https://" scheme. Parsing is strict so a typo is a usage error before any
// network traffic, not a timeout five seconds later.
import { EndpointSyntaxError } from "./errors.ts";

export interface Endpoint {
  /** "host:port" as a person writes it; the key under which the client tracks this endpoint. */
  address: string;
  /** Base URL the Connect transport posts to, e.g. "https://10.0.0.1:2379". */
  url: string;
  /** Host without IPv6 brackets, for TCP dials and the TLS server name. */
  host: string;
  port: number;
  secure: boolean;
}

const PORT_MAX = 65535;
const HOST_PATTERN = /^[A-Za-z0-9._-]+$/;

/** Parses one endpoint; `secureByDefault` picks https when no scheme is written. */
export function parseEndpoint(text: string, secureByDefault: boolean): Endpoint {
  const trimmed = text.trim();
  let rest = trimmed;
  let secure = secureByDefault;
  const scheme = /^([a-z]+):\/\//i.exec(trimmed);
  if (scheme) {
    const name = scheme[1]!.toLowerCase();
    if (name !== "http" && name !== "https") throw new EndpointSyntaxError(text, `scheme must be http or https`);
    secure = name === "https";
    rest = trimmed.slice(scheme[0].length).replace(/\/$/, "");
  }
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:/\[\]]+):(\d+)$/.exec(rest);
  if (!match) throw new EndpointSyntaxError(text, `expected host:port`);
  const bracketed = match[1]!;
  const host = bracketed.startsWith("[") ? bracketed.slice(1, -1) : bracketed;
  if (!bracketed.startsWith("[") && !HOST_PATTERN.test(host)) throw new EndpointSyntaxError(text, `bad host "${host}"`);
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > PORT_MAX) throw new EndpointSyntaxError(text, `port must be 1-${PORT_MAX}`);
  const address = `${bracketed}:${port}`;
  return { address, url: `${secure ? "https" : "http"}://${address}`, host, port, secure };
}

/** Parses a comma-separated list; duplicates are dropped, order is kept (the first is tried first). */
export function parseEndpointList(text: string | readonly string[], secureByDefault: boolean): Endpoint[] {
  const parts = (typeof text === "string" ? text.split(",") : text.flatMap((t) => t.split(","))).map((p) => p.trim());
  const nonEmpty = parts.filter((p) => p !== "");
  if (nonEmpty.length === 0) throw new EndpointSyntaxError(typeof text === "string" ? text : text.join(","), "no endpoints given");
  const seen = new Map<string, Endpoint>();
  for (const part of nonEmpty) {
    const endpoint = parseEndpoint(part, secureByDefault);
    if (!seen.has(endpoint.address)) seen.set(endpoint.address, endpoint);
  }
  return [...seen.values()];
}
