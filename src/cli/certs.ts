// `dkv certs init` and `dkv certs issue NAME`: mint a cluster CA and the peer,
// server and client certificates signed by it. The certificate code (and the
// X.509 library behind it) is imported inside run() so other commands never
// pay for it at start-up.
import { defineCommand } from "citty";
import { UsageError } from "./errors";

const DEFAULT_CERT_DIR = "./certs";

const initCommand = defineCommand({
  meta: { name: "init", description: "Create a CA (ECDSA P-256) as DIR/ca.crt + DIR/ca.key" },
  args: {
    dir: { type: "string", description: "Directory for the CA files", default: DEFAULT_CERT_DIR, valueHint: "DIR" },
    cn: { type: "string", description: "Common name of the CA", default: "dkv CA", valueHint: "NAME" },
    days: { type: "string", description: "Validity in days (default 3650)", valueHint: "N" },
    force: { type: "boolean", description: "Replace an existing ca.crt / ca.key" },
  },
  async run({ args }) {
    const days = parseDays(args.days);
    const { initCa } = await import("../certs/index");
    const minted = await initCa({ dir: args.dir, cn: args.cn, force: args.force === true, ...(days === undefined ? {} : { days }) });
    process.stdout.write(
      `wrote ${minted.certPath} and ${minted.keyPath} (key mode 0600), valid until ${minted.notAfter.toISOString()}\n` +
        `sha256 fingerprint ${minted.fingerprintSha256}\n`,
    );
  },
});

const issueCommand = defineCommand({
  meta: { name: "issue", description: "Create DIR/NAME.crt + DIR/NAME.key signed by the CA in DIR" },
  args: {
    NAME: { type: "positional", required: true, description: "Certificate name: file name and subject CN (e.g. the node name)" },
    dns: { type: "string", description: "DNS subject alternative names, comma-separated", valueHint: "a,b" },
    ip: { type: "string", description: "IP subject alternative names, comma-separated", valueHint: "1.2.3.4" },
    peer: { type: "boolean", description: "Peer certificate: serverAuth + clientAuth (the default)" },
    server: { type: "boolean", description: "Server certificate: serverAuth only" },
    client: { type: "boolean", description: "Client certificate: clientAuth only" },
    days: { type: "string", description: "Validity in days (default 365)", valueHint: "N" },
    dir: { type: "string", description: "Directory holding ca.crt / ca.key, and where to write", default: DEFAULT_CERT_DIR, valueHint: "DIR" },
    force: { type: "boolean", description: "Replace an existing NAME.crt / NAME.key" },
  },
  async run({ args }) {
    const kind = parseKind(args.peer === true, args.server === true, args.client === true);
    const dns = splitList(args.dns);
    const ip = splitList(args.ip);
    if (kind !== "client" && dns.length + ip.length === 0) {
      throw new UsageError(`a ${kind} certificate needs at least one --dns or --ip (peers verify names against them)`);
    }
    const days = parseDays(args.days);
    const { issueCert } = await import("../certs/index");
    const minted = await issueCert({
      dir: args.dir,
      name: args.NAME,
      dns,
      ip,
      kind,
      force: args.force === true,
      ...(days === undefined ? {} : { days }),
    });
    process.stdout.write(
      `wrote ${minted.certPath} and ${minted.keyPath} (${kind}; SANs: ${[...dns, ...ip].join(", ") || "none"}), ` +
        `valid until ${minted.notAfter.toISOString()}\n`,
    );
  },
});

export const certsCommand = defineCommand({
  meta: { name: "certs", description: "Mint a CA and node/client certificates" },
  subCommands: { init: initCommand, issue: issueCommand },
});

function parseKind(peer: boolean, server: boolean, client: boolean): "peer" | "server" | "client" {
  const chosen: ("peer" | "server" | "client")[] = [];
  if (peer) chosen.push("peer");
  if (server) chosen.push("server");
  if (client) chosen.push("client");
  if (chosen.length > 1) throw new UsageError(`choose one of --peer, --server, --client (got ${chosen.map((k) => `--${k}`).join(" ")})`);
  return chosen[0] ?? "peer";
}

function parseDays(value: unknown): number | undefined {
  if (value === undefined || value === "") return undefined;
  const text = String(value);
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--days must be a positive whole number, not "${text}"`);
  return Number(text);
}

/** "--dns a,b" and repeated "--dns a --dns b" both work. */
function splitList(value: unknown): string[] {
  if (value === undefined || value === true || value === false) return [];
  const parts = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(","));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}
