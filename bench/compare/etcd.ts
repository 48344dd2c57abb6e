// The etcd side: Debian's etcd installed when missing, and a 3-member cluster
// on loopback (each member on its own 127.0.0.N, its own temp data dir, etcd's
// default fsync-on-commit durability).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectOutput, freePort, removeAtExit, tail, track, waitFor } from "./procs.ts";
import type { Endpoint, ServerCluster, ServerMember } from "./cluster.ts";

const ETCD_START_DEADLINE_MS = 30_000;

/** Installs etcd-server and etcd-client from Debian's packages unless etcd and etcdctl are on PATH. */
export async function ensureEtcd(log: (line: string) => void): Promise<void> {
  if (Bun.which("etcd") && Bun.which("etcdctl")) return;
  log("etcd not found: installing Debian's etcd-server and etcd-client (apt-get)");
  for (const args of [["apt-get", "update"], ["apt-get", "install", "-y", "etcd-server", "etcd-client"]]) {
    const child = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (code !== 0) throw new Error(`${args.join(" ")} failed (exit ${code}):\n${(out + err).split("\n").slice(-15).join("\n")}`);
  }
  if (!Bun.which("etcd") || !Bun.which("etcdctl")) throw new Error("etcd-server/etcd-client installed but etcd or etcdctl is still not on PATH");
}

export async function etcdVersion(): Promise<string> {
  const out = await new Response(Bun.spawn(["etcd", "--version"], { stdout: "pipe", stderr: "ignore" }).stdout).text();
  const version = /etcd Version: (\S+)/.exec(out)?.[1] ?? "unknown";
  const go = /Go Version: (\S+)/.exec(out)?.[1];
  return go ? `${version} (${go})` : version;
}

export class EtcdCluster implements ServerCluster {
  readonly name = "etcd";
  readonly members: ServerMember[] = [];
  private readonly root: string;

  constructor(firstHost: number, size = 3) {
    this.root = removeAtExit(mkdtempSync(join(tmpdir(), "bench-etcd-")));
    for (let i = 0; i < size; i++) {
      const host = `127.0.0.${firstHost + i}`;
      this.members.push({ name: `e${i}`, host, clientPort: freePort(host), peerPort: freePort(host), dataDir: join(this.root, `e${i}`), output: [] });
    }
  }

  async start(): Promise<void> {
    const initial = this.members.map((m) => `${m.name}=http://${m.host}:${m.peerPort}`).join(",");
    for (const m of this.members) {
      const client = `http://${m.host}:${m.clientPort}`;
      const peer = `http://${m.host}:${m.peerPort}`;
      const child = track(
        Bun.spawn(
          [
            "etcd",
            "--name", m.name,
            "--data-dir", m.dataDir,
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", "bench-compare",
            "--logger", "zap",
            "--log-level", "warn",
          ],
          { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
        ),
      );
      m.process = child;
      m.output = [];
      void collectOutput(child.stdout, m.output);
      void collectOutput(child.stderr, m.output);
    }
    try {
      await waitFor("an etcd leader", ETCD_START_DEADLINE_MS, () => this.leader(), 250);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : error}\n${this.logs()}`);
    }
  }

  /** The leader's client endpoint, as `etcdctl endpoint status` reports it (a good client asks the cluster, not a config file). */
  async leader(): Promise<Endpoint | undefined> {
    const endpoints = this.members.map((m) => `http://${m.host}:${m.clientPort}`).join(",");
    const child = Bun.spawn(["etcdctl", "--endpoints", endpoints, "--command-timeout", "2s", "endpoint", "status", "-w", "json"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ETCDCTL_API: "3" },
    });
    const [out, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    if (code !== 0) return undefined;
    // member ids are uint64: quote them before JSON.parse rounds them to doubles.
    const statuses = JSON.parse(out.replace(/":(\d{15,})/g, '":"$1"')) as Array<{ Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }>;
    const leader = statuses.find((s) => String(s.Status.header.member_id) === String(s.Status.leader) && Number(s.Status.leader) !== 0);
    if (!leader) return undefined;
    const url = new URL(leader.Endpoint);
    return { host: url.hostname, port: Number(url.port) };
  }

  endpoints(): Endpoint[] {
    return this.members.map((m) => ({ host: m.host, port: m.clientPort }));
  }

  pids(): number[] {
    return this.members.flatMap((m) => (m.process ? [m.process.pid] : []));
  }

  alive(): boolean {
    return this.members.every((m) => m.process && m.process.exitCode === null && !m.process.killed);
  }

  logs(lines = 15): string {
    return this.members.map((m) => `--- ${m.name} (${m.host}:${m.clientPort}) ---\n${tail(m.output, lines)}`).join("\n");
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        m.process?.kill("SIGKILL");
        await m.process?.exited;
        m.process = undefined;
      }),
    );
    rmSync(this.root, { recursive: true, force: true });
  }
}
