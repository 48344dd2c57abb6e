// CertificateReloader on real certificate files: unchanged files do nothing,
// changed and usable ones are applied once, unusable ones are warned about
// once per problem (not at every check), and a lost listener stops the member.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initCa, issueCert } from "../../src/certs/index.ts";
import { CertificateReloader, type CertificateTarget, type PemMaterial } from "../../src/cli/certificate-reload.ts";
import type { Logger } from "../../src/server/logger.ts";
import { ListenerLostError } from "../../src/transport/index.ts";

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dkv-reload-"));
  await initCa({ dir });
  for (const name of ["first", "second"]) await issueCert({ dir, name, ip: ["127.0.0.1"], kind: "peer" });
  copyFileSync(join(dir, "first.crt"), join(dir, "live.crt"));
  copyFileSync(join(dir, "first.key"), join(dir, "live.key"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Lines implements Logger {
  lines: string[] = [];
  debug(message: string) {
    this.lines.push(`debug ${message}`);
  }
  info(message: string) {
    this.lines.push(`info ${message}`);
  }
  warn(message: string, fields?: Record<string, unknown>) {
    this.lines.push(`warn ${message} ${JSON.stringify(fields ?? {})}`);
  }
  error(message: string) {
    this.lines.push(`error ${message}`);
  }
  count(fragment: string): number {
    return this.lines.filter((line) => line.includes(fragment)).length;
  }
}

const read = (name: string) => readFileSync(join(dir, name), "utf8");

function target(applied: PemMaterial[], apply?: (m: PemMaterial) => void): CertificateTarget {
  return {
    name: "peer",
    files: { cert: join(dir, "live.crt"), key: join(dir, "live.key"), ca: join(dir, "ca.crt") },
    current: { cert: read("first.crt"), key: read("first.key"), ca: read("ca.crt") },
    apply: apply ?? ((m) => void applied.push(m)),
  };
}

describe("CertificateReloader", () => {
  test("unchanged files are not applied; changed usable ones are, once", async () => {
    const applied: PemMaterial[] = [];
    const log = new Lines();
    const reloader = new CertificateReloader([target(applied)], log, () => {});
    await reloader.check();
    expect(applied).toHaveLength(0);
    writeFileSync(join(dir, "live.crt"), read("second.crt"));
    writeFileSync(join(dir, "live.key"), read("second.key"));
    await reloader.check();
    await reloader.check();
    expect(applied.map((m) => m.cert)).toEqual([read("second.crt")]);
    expect(log.count("now using the new peer certificate files")).toBe(1);
  });

  test("a half-written renewal is warned about once, and used once it is complete", async () => {
    writeFileSync(join(dir, "live.crt"), read("first.crt"));
    writeFileSync(join(dir, "live.key"), read("first.key"));
    const applied: PemMaterial[] = [];
    const log = new Lines();
    const reloader = new CertificateReloader([target(applied)], log, () => {});
    writeFileSync(join(dir, "live.crt"), read("second.crt")); // the key is still the old one
    for (let i = 0; i < 3; i++) await reloader.check();
    expect(applied).toHaveLength(0);
    expect(log.count("changed but cannot be used")).toBe(1);
    expect(log.count("does not belong to certificate file")).toBe(1);
    writeFileSync(join(dir, "live.key"), read("second.key"));
    await reloader.check();
    expect(applied.map((m) => m.key)).toEqual([read("second.key")]);
  });

  test("a refusal by the port is a warning; a lost listener stops the member", async () => {
    writeFileSync(join(dir, "live.crt"), read("second.crt"));
    writeFileSync(join(dir, "live.key"), read("second.key"));
    const log = new Lines();
    const refusing = new CertificateReloader([target([], () => { throw new Error("the peer port keeps its certificate: nope"); })], log, () => {});
    await refusing.check();
    expect(log.count("keeps its certificate: nope")).toBe(1);

    const fatal: string[] = [];
    const losing = new CertificateReloader([target([], () => { throw new ListenerLostError("the peer port could not be bound again"); })], log, (reason) => fatal.push(reason));
    await losing.check();
    expect(fatal).toEqual(["the peer port could not be bound again"]);
  });

  test("a member without TLS watches nothing", async () => {
    const reloader = new CertificateReloader([], new Lines(), () => {});
    expect(reloader.watching).toBe(false);
    await reloader.check();
  });
});
