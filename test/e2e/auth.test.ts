// Passwords end to end: `dkv auth hash` makes the hashes of an --auth-file,
// every member of a 3-member cluster of compiled binaries then refuses a call
// without a user whose role allows it, and the CLI says so in one line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, Cluster, freePort, waitFor, type Member } from "./cluster.ts";

const dir = mkdtempSync(join(tmpdir(), "dkv-auth-"));
const authFile = join(dir, "users.json");
let cluster: Cluster;
const addr = (m: Member) => `${m.host}:${m.clientPort}`;

function dkv(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}): { code: number; stdout: string; stderr: string } {
  const run = Bun.spawnSync([BINARY, ...args], {
    env: { ...process.env, NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    timeout: 20_000,
  });
  return { code: run.exitCode ?? -1, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
}

function hash(password: string): string {
  const run = dkv(["auth", "hash"], { stdin: `${password}\n` });
  if (run.code !== 0) throw new Error(`dkv auth hash failed: ${run.stderr}`);
  return run.stdout.trim();
}

beforeAll(async () => {
  const users = [
    { name: "reader", password_hash: hash("r-pass"), role: "read" },
    { name: "writer", password_hash: hash("w-pass"), role: "write" },
    { name: "admin", password_hash: hash("a-pass"), role: "admin" },
  ];
  writeFileSync(authFile, JSON.stringify({ users }));
  cluster = new Cluster({ size: 3, firstHost: 101, flags: ["--auth-file", authFile] });
  await cluster.startAll();
  const all = cluster.members.map(addr).join(",");
  await waitFor("three voters", 30_000, () => {
    const run = dkv(["member", "list", "--output", "json", "--endpoints", all, "--user", "admin:a-pass"]);
    if (run.code !== 0) return undefined;
    const { members } = JSON.parse(run.stdout) as { members: Array<{ is_learner: boolean }> };
    return members.length === 3 && members.every((m) => !m.is_learner) ? true : undefined;
  });
}, 60_000);

afterAll(async () => {
  await cluster?.stopAll();
  cluster?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function expectOneLine(run: { code: number; stdout: string; stderr: string }, code: number, text: string): void {
  expect({ code: run.code, stdout: run.stdout }).toEqual({ code, stdout: "" });
  expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(run.stderr).toContain(text);
}

describe("--auth-file", () => {
  test("each member refuses a call without a password, a wrong password and a role too low; the right user gets through", () => {
    const all = cluster.members.map(addr).join(",");
    for (const m of cluster.members) expectOneLine(dkv(["get", "k", "--endpoints", addr(m)]), 1, "requires a user name and password");
    expectOneLine(dkv(["get", "k", "--endpoints", all, "--user", "writer:wrong"]), 1, "wrong user name or password");
    expectOneLine(dkv(["set", "k", "v", "--endpoints", all, "--user", "reader:r-pass"]), 1, 'user "reader" has role read');

    // DKV_USER / DKV_PASSWORD, as every flag has its variable; a write through any member.
    expect(dkv(["set", "k", "v", "--endpoints", addr(cluster.members[2]!)], { env: { DKV_USER: "writer", DKV_PASSWORD: "w-pass" } }).code).toBe(0);
    for (const m of cluster.members) {
      const read = dkv(["get", "k", "--endpoints", addr(m), "--user", "reader", "--password", "r-pass"]);
      expect({ code: read.code, stdout: read.stdout }).toEqual({ code: 0, stdout: "v\n" });
    }
    // Backups are the whole store: admin only.
    const backup = join(dir, "backup.db");
    expectOneLine(dkv(["snapshot", "save", backup, "--endpoints", all, "--user", "writer:w-pass"]), 1, "needs admin");
    expect(dkv(["snapshot", "save", backup, "--endpoints", all, "--user", "admin:a-pass"]).code).toBe(0);
  }, 60_000);

  test("SIGHUP reads the auth file again: a user added to it gets in at once, without a restart", async () => {
    const member = cluster.members[0]!;
    const late = ["get", "k", "--endpoints", addr(member), "--user", "late:l-pass"];
    expectOneLine(dkv(late), 1, "wrong user name or password");
    const users = JSON.parse(await Bun.file(authFile).text()) as { users: unknown[] };
    users.users.push({ name: "late", password_hash: hash("l-pass"), role: "read" });
    writeFileSync(authFile, JSON.stringify(users));
    member.process!.kill("SIGHUP");
    await waitFor("the new user to be let in", 5_000, () => (dkv(late).code === 0 ? true : undefined));
    await waitFor("the member to log the reload", 5_000, () => (member.output.join("").includes("auth file reloaded") ? true : undefined));
  }, 30_000);

  test("a user without a password is a usage error; health stays open; a bad auth file stops serve in one line", async () => {
    expectOneLine(dkv(["get", "k", "--user", "reader"]), 2, "needs a password");
    expectOneLine(dkv(["get", "k", "--password", "x"]), 2, "--password needs --user");
    expect((await fetch(`http://${addr(cluster.members[0]!)}/healthz`)).status).toBe(200);

    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ users: [{ name: "x", password_hash: "plain text", role: "read" }] }));
    const never = join(dir, "never");
    const serve = dkv(["serve", "--data-dir", never, "--listen-client-address", `127.0.0.1:${freePort("127.0.0.1")}`, "--listen-peer-address", `127.0.0.1:${freePort("127.0.0.1")}`, "--auth-file", bad]);
    expectOneLine(serve, 1, "password_hash must be a hash from `dkv auth hash`");
    // Checked before the data dir is made.
    expect(existsSync(never)).toBe(false);
  }, 30_000);
});
