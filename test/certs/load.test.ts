// loadTlsFiles: everything a socket needs, or one line naming the bad file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertError, initCa, issueCert, loadTlsFiles } from "../../src/certs/index";
import { makeTempDir } from "./helpers";

let dir: ReturnType<typeof makeTempDir>;
let paths: { cert: string; key: string; ca: string };

beforeAll(async () => {
  dir = makeTempDir();
  await initCa({ dir: dir.path });
  await issueCert({ dir: dir.path, name: "n1", ip: ["127.0.0.1"], kind: "peer" });
  await issueCert({ dir: dir.path, name: "n2", ip: ["127.0.0.1"], kind: "peer" });
  paths = { cert: join(dir.path, "n1.crt"), key: join(dir.path, "n1.key"), ca: join(dir.path, "ca.crt") };
});
afterAll(() => dir.remove());

function loadError(overrides: Partial<typeof paths>): Error {
  try {
    loadTlsFiles({ ...paths, ...overrides });
  } catch (error) {
    expect(error).toBeInstanceOf(CertError);
    return error as Error;
  }
  throw new Error(`expected loadTlsFiles(${JSON.stringify(overrides)}) to fail`);
}

describe("loadTlsFiles", () => {
  test("returns the PEM text, the expiry and no warnings for good files", () => {
    const material = loadTlsFiles(paths);
    expect(material.cert).toContain("BEGIN CERTIFICATE");
    expect(material.key).toContain("BEGIN PRIVATE KEY");
    expect(material.ca).toContain("BEGIN CERTIFICATE");
    expect(material.certNotAfter.getTime()).toBeGreaterThan(Date.now());
    expect(material.warnings).toEqual([]);
  });

  test("a certificate that expires within 30 days loads with a warning saying when", async () => {
    await issueCert({ dir: dir.path, name: "soon", ip: ["127.0.0.1"], kind: "peer", days: 10 });
    const material = loadTlsFiles({ ...paths, cert: join(dir.path, "soon.crt"), key: join(dir.path, "soon.key") });
    expect(material.warnings).toHaveLength(1);
    expect(material.warnings[0]).toMatch(/soon\.crt expires on \d{4}-\d\d-\d\dT.* in (9|10) days; issue a new one/);
  });

  test("the CA is optional (a server that does not ask for client certificates)", () => {
    const material = loadTlsFiles({ cert: paths.cert, key: paths.key });
    expect(material.ca).toBeUndefined();
  });

  test("a missing file is named in one line", () => {
    const missing = join(dir.path, "nope.crt");
    const error = loadError({ cert: missing });
    expect(error.message).toBe(`cannot read certificate file ${missing}: no such file or directory`);
    expect(loadError({ ca: join(dir.path, "nope-ca.crt") }).message).toContain("CA file");
    expect(loadError({ key: join(dir.path, "nope.key") }).message).toContain("key file");
  });

  test("a directory instead of a file is named", () => {
    expect(loadError({ key: dir.path }).message).toContain(`key file ${dir.path}`);
  });

  test("a file that is not PEM is named", () => {
    const junk = join(dir.path, "junk.pem");
    writeFileSync(junk, "hello\n");
    expect(loadError({ cert: junk }).message).toContain(`certificate file ${junk} holds no PEM certificate`);
    expect(loadError({ ca: junk }).message).toContain(`CA file ${junk} holds no PEM certificate`);
    expect(loadError({ key: junk }).message).toContain(`key file ${junk} is not a PEM private key`);
    const broken = join(dir.path, "broken.pem");
    writeFileSync(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    expect(loadError({ cert: broken }).message).toContain("certificate #1 is invalid");
  });

  test("a key that belongs to another certificate is refused", () => {
    const error = loadError({ key: join(dir.path, "n2.key") });
    expect(error.message).toBe(`key file ${join(dir.path, "n2.key")} does not belong to certificate file ${paths.cert}`);
  });

  test("a key readable by others loads with a warning", () => {
    const loose = join(dir.path, "loose.key");
    copyFileSync(paths.key, loose);
    chmodSync(loose, 0o644);
    const material = loadTlsFiles({ ...paths, key: loose });
    expect(material.warnings).toEqual([`key file ${loose} is readable by other users (mode 644); chmod 600 it`]);
  });
});
