// systemd/dkv.service: `systemd-analyze verify` accepts it (with ExecStart
// pointed at the built binary, since verify checks that the program exists),
// it carries the settings the issue asks for, and the built dkv keeps the
// Type=notify contract: READY=1 once it serves, STOPPING=1 on SIGTERM.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bindDatagramReceiver } from "./unix-datagram.ts";
import { freePort } from "../ports.ts";

const UNIT_PATH = join(import.meta.dir, "../../systemd/dkv.service");
const BUILT_BINARY = join(import.meta.dir, "../../dist/dkv");
const INSTALLED_BINARY = "/usr/local/bin/dkv";
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "dkv-systemd-"));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** The unit's settings as section -> key -> values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (!current || eq <= 0) throw new Error(`unit line outside a section or without "=": ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

/** Runs `systemd-analyze verify` on `unitText` saved as dkv.service; every complaint about it counts. */
function verify(unitText: string): { ok: boolean; complaints: string } {
  if (!Bun.which("systemd-analyze")) throw new Error("systemd-analyze is missing: apt-get install systemd");
  if (!existsSync(BUILT_BINARY)) throw new Error(`${BUILT_BINARY} is missing: run npm run build (npm test does)`);
  const path = join(scratch, "dkv.service");
  writeFileSync(path, unitText.replaceAll(`ExecStart=${INSTALLED_BINARY}`, `ExecStart=${BUILT_BINARY}`));
  const result = Bun.spawnSync(["systemd-analyze", "verify", path], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  // verify exits 0 on mere warnings (an unknown key is "ignored"): read them too.
  const complaints = (result.stdout.toString() + result.stderr.toString())
    .split("\n")
    .filter((line) => line.includes("dkv.service"))
    .join("\n");
  return { ok: result.exitCode === 0 && complaints === "", complaints };
}

describe("systemd/dkv.service", () => {
  const unitText = readFileSync(UNIT_PATH, "utf8");
  const unit = parseUnit(unitText);
  const service = unit.get("Service") ?? new Map<string, string[]>();
  const one = (key: string) => {
    const values = service.get(key);
    if (!values || values.length !== 1) throw new Error(`[Service] ${key}= should be set exactly once, found ${JSON.stringify(values)}`);
    return values[0]!;
  };

  test("systemd-analyze verify passes without a single complaint", () => {
    const { ok, complaints } = verify(unitText);
    expect(complaints).toBe("");
    expect(ok).toBe(true);
  });

  test("verify catches a broken unit (the check above can fail)", () => {
    const broken = verify(unitText.replace("[Service]", "[Service]\nRestart=sometimes\nNoSuchSetting=1"));
    expect(broken.ok).toBe(false);
    expect(broken.complaints).toContain("NoSuchSetting");
  });

  test("runs `dkv serve` as a notify service that restarts on failure", () => {
    expect(one("Type")).toBe("notify");
    expect(one("ExecStart")).toBe(`${INSTALLED_BINARY} serve`);
    expect(one("Restart")).toBe("on-failure");
    expect(one("User")).toBe("dkv");
    expect(one("Group")).toBe("dkv");
    expect(unit.get("Install")?.get("WantedBy")).toEqual(["multi-user.target"]);
  });

  test("configuration comes from /etc/dkv/dkv.env, data lives in /var/lib/dkv", () => {
    expect(one("EnvironmentFile").replace(/^-/, "")).toBe("/etc/dkv/dkv.env");
    expect(service.get("Environment")).toContain("DKV_DATA_DIR=/var/lib/dkv");
    expect(one("StateDirectory")).toBe("dkv");
    expect(one("StateDirectoryMode")).toBe("0700");
  });

  test("stops gracefully with SIGTERM within 30 s", () => {
    expect(one("KillSignal")).toBe("SIGTERM");
    expect(one("TimeoutStopSec")).toBe("30");
  });

  test("`systemctl reload` sends SIGHUP (certificate files are read again)", () => {
    expect(one("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
  });

  test("is hardened", () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ReadWritePaths: "/var/lib/dkv",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      LimitNOFILE: "65536",
      CapabilityBoundingSet: "",
      RestrictSUIDSGID: "yes",
    };
    for (const [key, value] of Object.entries(expected)) expect(`${key}=${one(key)}`).toBe(`${key}=${value}`);
    // The JIT needs writable+executable memory: this setting would kill dkv at start.
    expect(service.has("MemoryDenyWriteExecute")).toBe(false);
  });
});

describe("dkv serve as dkv.service runs it", () => {
  test("configured from DKV_* variables, it sends READY=1 once clients are served and STOPPING=1 on SIGTERM, then exits 0", async () => {
    if (!existsSync(BUILT_BINARY)) throw new Error(`${BUILT_BINARY} is missing: run npm run build (npm test does)`);
    const socketPath = join(scratch, "notify.sock");
    const receiver = bindDatagramReceiver(socketPath);
    const clientPort = freePort();
    const child = Bun.spawn([BUILT_BINARY, "serve"], {
      // What systemd passes: NOTIFY_SOCKET plus the variables of /etc/dkv/dkv.env.
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        NOTIFY_SOCKET: socketPath,
        DKV_DATA_DIR: join(scratch, "data"),
        DKV_LISTEN_CLIENT_ADDRESS: `127.0.0.1:${clientPort}`,
        DKV_LISTEN_PEER_ADDRESS: `127.0.0.1:${freePort()}`,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      expect(await receiver.receive(30_000)).toBe("READY=1");
      // Ready means listening: systemd starts dependent units at this point.
      const health = await fetch(`http://127.0.0.1:${clientPort}/healthz`);
      expect(health.status).toBe(200);
      child.kill("SIGTERM");
      expect(await receiver.receive(15_000)).toBe("STOPPING=1");
      expect(await child.exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
      receiver.close();
    }
  }, 60_000);
});
