// `dkv certs init|issue` as a person types them: files appear, mistakes are
// UsageErrors (exit 2 in the CLI), failures are one-line errors.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "citty";
import { certsCommand } from "../../src/cli/certs";
import { UsageError } from "../../src/cli/errors";
import { certText, makeTempDir, openssl } from "./helpers";

let dir: ReturnType<typeof makeTempDir>;
let printed: string[];
let realWrite: typeof process.stdout.write;
beforeEach(() => {
  dir = makeTempDir();
  printed = [];
  realWrite = process.stdout.write;
  process.stdout.write = ((chunk: string) => {
    printed.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
});
afterEach(() => {
  process.stdout.write = realWrite;
  dir.remove();
});

const certs = (...args: string[]) => runCommand(certsCommand, { rawArgs: args });

test("init then issue --peer writes verifiable files and says where", async () => {
  await certs("init", "--dir", dir.path, "--cn", "cluster CA", "--days", "90");
  expect(printed.join("")).toContain(`wrote ${join(dir.path, "ca.crt")} and ${join(dir.path, "ca.key")}`);
  expect(statSync(join(dir.path, "ca.key")).mode & 0o777).toBe(0o600);

  await certs("issue", "dkv-0", "--dns", "dkv-0.dkv.default.svc,localhost", "--ip", "127.0.0.1", "--dir", dir.path, "--days", "30");
  const crt = join(dir.path, "dkv-0.crt");
  const ca = join(dir.path, "ca.crt");
  expect(openssl("verify", "-CAfile", ca, "-purpose", "sslserver", crt).exitCode).toBe(0);
  expect(openssl("verify", "-CAfile", ca, "-purpose", "sslclient", crt).exitCode).toBe(0);
  expect(certText(crt)).toContain("DNS:dkv-0.dkv.default.svc, DNS:localhost, IP Address:127.0.0.1");
  expect(certText(ca)).toContain("Subject: CN = cluster CA");
});

test("--client and --server choose the key usage", async () => {
  await certs("init", "--dir", dir.path);
  await certs("issue", "alice", "--client", "--dir", dir.path);
  await certs("issue", "api", "--server", "--dns", "localhost", "--dir", dir.path);
  expect(certText(join(dir.path, "alice.crt"))).not.toContain("TLS Web Server Authentication");
  expect(certText(join(dir.path, "api.crt"))).not.toContain("TLS Web Client Authentication");
});

test("usage mistakes are UsageErrors and write nothing", async () => {
  await certs("init", "--dir", dir.path);
  await expect(certs("issue", "n", "--peer", "--client", "--ip", "127.0.0.1", "--dir", dir.path)).rejects.toBeInstanceOf(UsageError);
  await expect(certs("issue", "n", "--peer", "--dir", dir.path)).rejects.toThrow("at least one --dns or --ip");
  await expect(certs("issue", "n", "--ip", "127.0.0.1", "--days", "soon", "--dir", dir.path)).rejects.toBeInstanceOf(UsageError);
  await expect(certs("init", "--dir", dir.path, "--force", "--days", "-3")).rejects.toBeInstanceOf(UsageError);
  expect(existsSync(join(dir.path, "n.crt"))).toBe(false);
});

test("an existing CA is not overwritten without --force", async () => {
  await certs("init", "--dir", dir.path);
  const error = await certs("init", "--dir", dir.path).catch((e: unknown) => e);
  expect(error).not.toBeInstanceOf(UsageError);
  expect((error as Error).message).toBe(`${join(dir.path, "ca.key")} already exists; refusing to overwrite it (use --force to replace it)`);
  await certs("init", "--dir", dir.path, "--force");
});

test("loading the certs command and src/certs does not load the X.509 library", () => {
  const script =
    'await import("./src/cli/certs"); await import("./src/certs/index");' +
    'console.log(Object.keys(require.cache).filter((k) => k.includes("@peculiar") || k.includes("reflect-metadata")).length)';
  const result = Bun.spawnSync([process.execPath, "-e", script], { cwd: join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe" });
  expect(result.stderr.toString()).toBe("");
  expect(result.stdout.toString().trim()).toBe("0");
});
