// Shared by the certificate tests: temporary directories, openssl, and a
// bounded wait.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function makeTempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "dkv-certs-test-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface OpensslResult {
  exitCode: number;
  output: string;
}

export function openssl(...args: string[]): OpensslResult {
  const result = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
}

export function certText(certPath: string): string {
  const result = openssl("x509", "-in", certPath, "-noout", "-text");
  if (result.exitCode !== 0) throw new Error(`openssl x509 could not read ${certPath}: ${result.output}`);
  return result.output;
}

export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
