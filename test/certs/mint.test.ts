// dkv certs: the CA and leaves it mints are what openssl and TLS expect.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertError, initCa, issueCert } from "../../src/certs/index";
import { certText, makeTempDir, openssl } from "./helpers";

let dir: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => dir.remove());

function verify(purpose: "sslserver" | "sslclient", certPath: string) {
  return openssl("verify", "-CAfile", join(dir.path, "ca.crt"), "-purpose", purpose, certPath);
}

describe("initCa", () => {
  test("writes a P-256 CA certificate and a 0600 key that openssl accepts", async () => {
    const minted = await initCa({ dir: dir.path, cn: "test CA", days: 30 });
    expect(minted.certPath).toBe(join(dir.path, "ca.crt"));
    expect(statSync(minted.keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(minted.certPath).mode & 0o777).toBe(0o644);
    const text = certText(minted.certPath);
    expect(text).toContain("Subject: CN = test CA");
    expect(text).toContain("CA:TRUE");
    expect(text).toContain("Certificate Sign");
    expect(text).toContain("NIST CURVE: P-256");
    expect(openssl("verify", "-CAfile", minted.certPath, minted.certPath).exitCode).toBe(0);
    expect(openssl("pkey", "-in", minted.keyPath, "-noout").exitCode).toBe(0);
    const days = (minted.notAfter.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  test("creates a missing directory owner-only", async () => {
    const nested = join(dir.path, "a", "certs");
    await initCa({ dir: nested });
    expect(statSync(nested).mode & 0o777).toBe(0o700);
    expect(existsSync(join(nested, "ca.key"))).toBe(true);
  });

  test("refuses to overwrite an existing CA, naming the file, unless forced", async () => {
    const first = await initCa({ dir: dir.path });
    const before = readFileSync(first.keyPath, "utf8");
    const error = await initCa({ dir: dir.path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CertError);
    expect((error as Error).message).toContain(join(dir.path, "ca.key"));
    expect((error as Error).message).toContain("--force");
    expect(readFileSync(first.keyPath, "utf8")).toBe(before);

    const second = await initCa({ dir: dir.path, force: true });
    expect(second.fingerprintSha256).not.toBe(first.fingerprintSha256);
    expect(readFileSync(second.keyPath, "utf8")).not.toBe(before);
    expect(statSync(second.keyPath).mode & 0o777).toBe(0o600);
  });

  test("refuses when only the certificate exists, and writes nothing", async () => {
    writeFileSync(join(dir.path, "ca.crt"), "placeholder");
    await expect(initCa({ dir: dir.path })).rejects.toThrow(join(dir.path, "ca.crt"));
    expect(existsSync(join(dir.path, "ca.key"))).toBe(false);
  });

  test("a forced rewrite narrows a widened key file back to 0600", async () => {
    await initCa({ dir: dir.path });
    chmodSync(join(dir.path, "ca.key"), 0o644);
    await initCa({ dir: dir.path, force: true });
    expect(statSync(join(dir.path, "ca.key")).mode & 0o777).toBe(0o600);
  });

  test("rejects nonsense validity and common names", async () => {
    await expect(initCa({ dir: dir.path, days: 0 })).rejects.toThrow("--days");
    await expect(initCa({ dir: dir.path, days: 1.5 })).rejects.toThrow("--days");
    await expect(initCa({ dir: dir.path, cn: "" })).rejects.toThrow("common name");
    await expect(initCa({ dir: dir.path, cn: "x".repeat(65) })).rejects.toThrow("common name");
  });
});

describe("issueCert", () => {
  beforeEach(async () => {
    await initCa({ dir: dir.path, days: 365 });
  });

  test("a peer certificate is good for both server and client auth with the requested SANs", async () => {
    const minted = await issueCert({
      dir: dir.path,
      name: "dkv-1",
      dns: ["dkv-1.dkv.default.svc", "localhost"],
      ip: ["127.0.0.1", "::1"],
      kind: "peer",
      days: 30,
    });
    expect(minted.certPath).toBe(join(dir.path, "dkv-1.crt"));
    expect(statSync(minted.keyPath).mode & 0o777).toBe(0o600);
    expect(verify("sslserver", minted.certPath).exitCode).toBe(0);
    expect(verify("sslclient", minted.certPath).exitCode).toBe(0);
    const text = certText(minted.certPath);
    expect(text).toContain("Subject: CN = dkv-1");
    expect(text).toContain("CA:FALSE");
    expect(text).toContain("Digital Signature");
    expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    expect(text).toContain("DNS:dkv-1.dkv.default.svc, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(text).toContain("X509v3 Authority Key Identifier");
    // openssl's own host and IP checks agree with the SANs.
    const ca = join(dir.path, "ca.crt");
    expect(openssl("verify", "-CAfile", ca, "-verify_hostname", "dkv-1.dkv.default.svc", minted.certPath).exitCode).toBe(0);
    expect(openssl("verify", "-CAfile", ca, "-verify_ip", "127.0.0.1", minted.certPath).exitCode).toBe(0);
    expect(openssl("verify", "-CAfile", ca, "-verify_hostname", "dkv-2.dkv.default.svc", minted.certPath).exitCode).not.toBe(0);
  });

  test("a server certificate is refused for client auth", async () => {
    const minted = await issueCert({ dir: dir.path, name: "api", dns: ["api.example"], kind: "server" });
    expect(verify("sslserver", minted.certPath).exitCode).toBe(0);
    expect(verify("sslclient", minted.certPath).exitCode).not.toBe(0);
    const text = certText(minted.certPath);
    expect(text).toContain("TLS Web Server Authentication");
    expect(text).not.toContain("TLS Web Client Authentication");
  });

  test("a client certificate is refused for server auth and needs no SAN", async () => {
    const minted = await issueCert({ dir: dir.path, name: "alice", kind: "client" });
    expect(verify("sslclient", minted.certPath).exitCode).toBe(0);
    expect(verify("sslserver", minted.certPath).exitCode).not.toBe(0);
    const text = certText(minted.certPath);
    expect(text).toContain("TLS Web Client Authentication");
    expect(text).not.toContain("Subject Alternative Name");
  });

  test("serial numbers are random and positive", async () => {
    const a = await issueCert({ dir: dir.path, name: "a", kind: "client" });
    const b = await issueCert({ dir: dir.path, name: "b", kind: "client" });
    expect(a.serialHex).not.toBe(b.serialHex);
    expect(a.serialHex).toMatch(/^[4-7][0-9a-f]{31}$/);
  });

  test("refuses to overwrite an issued certificate unless forced", async () => {
    await issueCert({ dir: dir.path, name: "n1", ip: ["127.0.0.1"], kind: "peer" });
    await expect(issueCert({ dir: dir.path, name: "n1", ip: ["127.0.0.1"], kind: "peer" })).rejects.toThrow(
      `${join(dir.path, "n1.key")} already exists`,
    );
    await issueCert({ dir: dir.path, name: "n1", ip: ["127.0.0.2"], kind: "peer", force: true });
    expect(certText(join(dir.path, "n1.crt"))).toContain("IP Address:127.0.0.2");
  });

  test("explains what is wrong with the request", async () => {
    const cases: [Parameters<typeof issueCert>[0], string][] = [
      [{ dir: dir.path, name: "../evil", ip: ["127.0.0.1"], kind: "peer" }, "certificate name"],
      [{ dir: dir.path, name: "ca", ip: ["127.0.0.1"], kind: "peer" }, "reserved"],
      [{ dir: dir.path, name: "n", ip: ["300.1.1.1"], kind: "peer" }, '--ip "300.1.1.1"'],
      [{ dir: dir.path, name: "n", dns: ["bad_name!"], kind: "peer" }, '--dns "bad_name!"'],
      [{ dir: dir.path, name: "n", kind: "server" }, "at least one --dns or --ip"],
      [{ dir: dir.path, name: "n", ip: ["127.0.0.1"], kind: "peer", days: 400 }, "outlive the CA"],
      [{ dir: join(dir.path, "nowhere"), name: "n", ip: ["127.0.0.1"], kind: "peer" }, "dkv certs init"],
    ];
    for (const [options, expected] of cases) {
      const error = await issueCert(options).catch((e: unknown) => e);
      expect(error, `issueCert(${JSON.stringify(options)})`).toBeInstanceOf(CertError);
      expect((error as Error).message).toContain(expected);
    }
  });

  test("refuses a CA key that does not belong to the CA certificate", async () => {
    const other = makeTempDir();
    try {
      await initCa({ dir: other.path });
      writeFileSync(join(dir.path, "ca.key"), readFileSync(join(other.path, "ca.key")));
      await expect(issueCert({ dir: dir.path, name: "n", ip: ["127.0.0.1"], kind: "peer" })).rejects.toThrow(
        "does not belong to",
      );
    } finally {
      other.remove();
    }
  });
});
