// A private network for chaos tests: one network namespace per member, each
// with one veth into a bridge the test creates; the test process reaches
// every member through the bridge's own address. Partitions are nftables
// rules INSIDE the member namespaces (drop packets from a given peer), so a
// cut can be one-way, and nothing of the host's own firewall is touched.
// Every namespace, link and rule is named with this process's id and removed
// by destroy(); removeLeftovers() removes those of dead processes.
//
// Needs root, iproute2 (`ip`) and nftables (`nft`).
import { existsSync, readdirSync } from "node:fs";

/** Name prefixes; the owner's pid follows, so leftovers of dead runs can be told apart from live ones. */
export const NAMESPACE_PREFIX = "dkvchaos-";
export const LINK_PREFIX = "dkc";
/** 10.213.<octet>.0/24, the octet chosen per run; addresses live only inside this test's namespaces and bridge. */
const SUBNET_PREFIX = "10.213";
const COMMAND_TIMEOUT_MS = 10_000;
const NFT_TABLE = "dkvchaos";
/** dkc<pid base 36>.<network number base 36><b | h member>: at most 15 characters, the kernel's limit. */
const LINK_PATTERN = /^\d+: (dkc([0-9a-z]+)\.[0-9a-z]+(?:b|h\d+))[@:]/gm;
let networksCreated = 0;

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion within timeoutMs (killed after). */
export async function run(argv: string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command that must succeed; the error names the command and what it printed. */
export async function mustRun(argv: string[]): Promise<string> {
  const result = await run(argv);
  if (result.exitCode !== 0) throw new Error(`\`${argv.join(" ")}\` failed (exit ${result.exitCode}): ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}

const TOOLS = [
  ["ip", "iproute2"],
  ["nft", "nftables"],
] as const;
const APT_TIMEOUT_MS = 300_000;

async function hasCommand(tool: string): Promise<boolean> {
  return (await run(["sh", "-c", `command -v ${tool}`])).exitCode === 0;
}

/** What the private network needs from the machine, as one readable sentence if something is missing. */
export async function missingPrerequisites(): Promise<string | undefined> {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("must run as root (network namespaces and nftables)");
  for (const [tool, pkg] of TOOLS) if (!(await hasCommand(tool))) problems.push(`\`${tool}\` not found (apt-get install -y ${pkg})`);
  return problems.length > 0 ? `chaos network: ${problems.join("; ")}` : undefined;
}

/**
 * As missingPrerequisites, after installing missing tools with apt-get when
 * running as root (a fresh CI machine may lack nftables).
 */
export async function ensurePrerequisites(): Promise<string | undefined> {
  const packages: string[] = [];
  for (const [tool, pkg] of TOOLS) if (!(await hasCommand(tool))) packages.push(pkg);
  if (packages.length > 0 && process.getuid?.() === 0 && (await hasCommand("apt-get"))) {
    console.error(`chaos network: installing ${packages.join(", ")} with apt-get`);
    await run(["apt-get", "update", "-qq"], APT_TIMEOUT_MS);
    await run(["apt-get", "install", "-y", "-qq", ...packages], APT_TIMEOUT_MS);
  }
  return missingPrerequisites();
}

function processAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/**
 * Removes namespaces and links left by chaos runs whose process is gone,
 * killing what still runs inside those namespaces first (members a crashed
 * run left behind). Returns what it removed.
 */
export async function removeLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  const namespaces = existsSync("/run/netns") ? readdirSync("/run/netns") : [];
  for (const name of namespaces) {
    const pid = Number(/^dkvchaos-(\d+)-/.exec(name)?.[1]);
    if (!pid || processAlive(pid)) continue;
    const orphans = (await run(["ip", "netns", "pids", name])).stdout.split("\n").filter(Boolean).map(Number);
    for (const orphan of orphans) {
      try {
        process.kill(orphan, "SIGKILL");
        removed.push(`process ${orphan} in ${name}`);
      } catch {
        // Gone already.
      }
    }
    await run(["ip", "netns", "delete", name]);
    removed.push(`namespace ${name}`);
  }
  const links = await run(["ip", "-o", "link", "show"]);
  for (const match of links.stdout.matchAll(LINK_PATTERN)) {
    const pid = parseInt(match[2]!, 36);
    if (processAlive(pid)) continue;
    await run(["ip", "link", "delete", match[1]!]);
    removed.push(`link ${match[1]}`);
  }
  return removed;
}

/** One-way cut: packets from member `from` to member `to` are dropped. */
export interface Cut {
  from: number;
  to: number;
}

export class NamespaceNetwork {
  private readonly cuts: Cut[] = [];
  private destroyed = false;

  private readonly pid = process.pid;
  /** Distinguishes networks of one process: "<pid>-<n>" in namespace names, "<pid36>.<n36>" in link names. */
  private readonly serial = ++networksCreated;

  private constructor(
    readonly size: number,
    private readonly octet: number,
  ) {}

  /** Creates the bridge and `size` member namespaces; on any failure, removes what it made. */
  static async create(size: number): Promise<NamespaceNetwork> {
    if (size < 1 || size > 20) throw new Error(`a chaos network has 1..20 members, not ${size}`);
    await removeLeftovers();
    const network = new NamespaceNetwork(size, await freeOctet());
    try {
      await network.build();
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return network;
  }

  get bridge(): string {
    return `${this.linkStem}b`;
  }

  private get linkStem(): string {
    return `${LINK_PREFIX}${this.pid.toString(36)}.${this.serial.toString(36)}`;
  }

  /** The test process's own address on the bridge: the source of all client traffic. */
  get hostAddress(): string {
    return `${SUBNET_PREFIX}.${this.octet}.254`;
  }

  namespace(member: number): string {
    return `${NAMESPACE_PREFIX}${this.pid}-${this.serial}-n${member}`;
  }

  address(member: number): string {
    return `${SUBNET_PREFIX}.${this.octet}.${member + 1}`;
  }

  /** argv prefix that runs a command inside a member's namespace. */
  execPrefix(member: number): string[] {
    return ["ip", "netns", "exec", this.namespace(member)];
  }

  private hostLink(member: number): string {
    return `${this.linkStem}h${member}`;
  }

  private async build(): Promise<void> {
    await mustRun(["ip", "link", "add", this.bridge, "type", "bridge"]);
    await mustRun(["ip", "addr", "add", `${this.hostAddress}/24`, "dev", this.bridge]);
    await mustRun(["ip", "link", "set", this.bridge, "up"]);
    for (let i = 0; i < this.size; i++) await this.buildMember(i);
  }

  private async buildMember(i: number): Promise<void> {
    const ns = this.namespace(i);
    await mustRun(["ip", "netns", "add", ns]);
    await mustRun(["ip", "link", "add", this.hostLink(i), "type", "veth", "peer", "name", "eth0", "netns", ns]);
    await mustRun(["ip", "link", "set", this.hostLink(i), "master", this.bridge, "up"]);
    await mustRun(["ip", "-n", ns, "addr", "add", `${this.address(i)}/24`, "dev", "eth0"]);
    await mustRun(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    await mustRun(["ip", "-n", ns, "link", "set", "lo", "up"]);
    // The member's own firewall: an input chain the nemesis fills with "drop from peer X".
    await mustRun([...this.execPrefix(i), "nft", `add table inet ${NFT_TABLE}`]);
    await mustRun([...this.execPrefix(i), "nft", `add chain inet ${NFT_TABLE} input { type filter hook input priority 0; policy accept; }`]);
  }

  /** Drops packets from `from` to `to` (one direction only). */
  async cut(from: number, to: number): Promise<void> {
    this.assertMember(from);
    this.assertMember(to);
    if (from === to || this.cuts.some((c) => c.from === from && c.to === to)) return;
    await mustRun([...this.execPrefix(to), "nft", `add rule inet ${NFT_TABLE} input ip saddr ${this.address(from)} drop`]);
    this.cuts.push({ from, to });
  }

  /** Cuts both directions between every member of `a` and every member of `b`. */
  async partition(a: number[], b: number[]): Promise<void> {
    for (const x of a) {
      for (const y of b) {
        await this.cut(x, y);
        await this.cut(y, x);
      }
    }
  }

  /** Removes every cut. */
  async heal(): Promise<void> {
    for (let i = 0; i < this.size; i++) await mustRun([...this.execPrefix(i), "nft", `flush chain inet ${NFT_TABLE} input`]);
    this.cuts.length = 0;
  }

  activeCuts(): Cut[] {
    return [...this.cuts];
  }

  /** Removes namespaces (with their rules and veth ends) and the bridge; safe to call twice. Processes inside must be gone first. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const problems: string[] = [];
    for (let i = 0; i < this.size; i++) {
      const pids = (await run(["ip", "netns", "pids", this.namespace(i)])).stdout.trim();
      if (pids) problems.push(`namespace ${this.namespace(i)} still has processes ${pids.split("\n").join(", ")}`);
      await run(["ip", "link", "delete", this.hostLink(i)]);
      await run(["ip", "netns", "delete", this.namespace(i)]);
    }
    await run(["ip", "link", "delete", this.bridge]);
    if (problems.length > 0) throw new Error(`chaos network cleanup: ${problems.join("; ")}`);
  }

  /** Names of this network's namespaces and links that still exist (for tests of cleanup). */
  async remaining(): Promise<string[]> {
    const namespaces = existsSync("/run/netns") ? readdirSync("/run/netns") : [];
    const found = namespaces.filter((n) => n.startsWith(`${NAMESPACE_PREFIX}${this.pid}-${this.serial}-`));
    const links = (await run(["ip", "-o", "link", "show"])).stdout;
    for (const match of links.matchAll(LINK_PATTERN)) if (match[1] === this.bridge || match[1]!.startsWith(`${this.linkStem}h`)) found.push(match[1]!);
    return found;
  }

  private assertMember(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new Error(`member index ${i} is not in 0..${this.size - 1}`);
  }
}

/** A /24 under 10.213 that no route on this host uses yet. */
async function freeOctet(): Promise<number> {
  const routes = (await run(["ip", "-4", "route", "show"])).stdout;
  const start = (process.pid % 200) + 20;
  for (let i = 0; i < 200; i++) {
    const octet = ((start - 20 + i) % 200) + 20;
    if (!routes.includes(`${SUBNET_PREFIX}.${octet}.`)) return octet;
  }
  throw new Error(`no free 10.213.x.0/24 subnet for the chaos network (every one has a route)`);
}
