// Leaf certificates signed by the CA in DIR: DIR/NAME.crt + DIR/NAME.key.
// peer = serverAuth + clientAuth (every dkv node both accepts and dials),
// server = serverAuth, client = clientAuth. Never a CA (basicConstraints CA:FALSE).
import { join } from "node:path";
import { fingerprint, loadCa, type MintedFiles } from "./ca";
import { CertError } from "./errors";
import { ensureCertDir, writeFilesRefusingOverwrite } from "./files";
import { ECDSA_P256_SHA256, generateKeyPair, privateKeyToPem, randomSerialHex } from "./keys";
import { CERT_FILE_MODE, CLOCK_SKEW_BACKDATE_MS, KEY_FILE_MODE, LEAF_DEFAULT_VALIDITY_DAYS } from "./limits";
import { checkDnsName, checkIpAddress, checkLeafName, checkValidityDays } from "./validate";
import { loadX509, type X509Lib } from "./x509-lib";

const DAY_MS = 24 * 60 * 60 * 1000;

export type CertKind = "peer" | "server" | "client";

export interface IssueCertOptions {
  dir: string;
  /** File name stem and subject CN, e.g. the node name "dkv-0". */
  name: string;
  dns?: string[];
  ip?: string[];
  kind: CertKind;
  days?: number;
  /** Replace existing NAME.crt / NAME.key. */
  force?: boolean;
}

export async function issueCert(options: IssueCertOptions): Promise<MintedFiles> {
  const dns = options.dns ?? [];
  const ip = options.ip ?? [];
  const days = options.days ?? LEAF_DEFAULT_VALIDITY_DAYS;
  checkLeafName(options.name);
  checkValidityDays(days);
  for (const name of dns) checkDnsName(name);
  for (const address of ip) checkIpAddress(address);
  if (options.kind !== "client" && dns.length + ip.length === 0) {
    // Verifiers match the server name against SANs only (the CN is ignored).
    throw new CertError(`a ${options.kind} certificate needs at least one --dns or --ip subject alternative name`);
  }

  const lib = await loadX509();
  const ca = await loadCa(lib, options.dir);
  const now = Date.now();
  const caNotAfterMs = ca.cert.notAfter.getTime();
  let notAfterMs = now + days * DAY_MS;
  // Same --days for CA and leaf (or a CA minted minutes ago) overshoots by
  // less than a day: end with the CA then. A larger overshoot is a mistake.
  if (notAfterMs > caNotAfterMs && notAfterMs - caNotAfterMs < DAY_MS) notAfterMs = caNotAfterMs;
  const notAfter = new Date(notAfterMs);
  if (notAfterMs > caNotAfterMs) {
    throw new CertError(
      `--days ${days} would outlive the CA in ${ca.certPath} (it expires ${ca.cert.notAfter.toISOString()}); use fewer days`,
    );
  }

  const keys = await generateKeyPair();
  const serialHex = randomSerialHex();
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serialHex,
    subject: [{ CN: [options.name] }],
    issuer: ca.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ECDSA_P256_SHA256,
    notBefore: new Date(now - CLOCK_SKEW_BACKDATE_MS),
    notAfter,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
      new lib.ExtendedKeyUsageExtension(extendedKeyUsages(lib, options.kind), false),
      ...(dns.length + ip.length > 0 ? [subjectAltNames(lib, dns, ip)] : []),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await authorityKeyIdentifier(lib, ca.cert),
    ],
  });

  const certPath = join(options.dir, `${options.name}.crt`);
  const keyPath = join(options.dir, `${options.name}.key`);
  ensureCertDir(options.dir);
  writeFilesRefusingOverwrite(
    [
      { path: keyPath, contents: await privateKeyToPem(lib, keys.privateKey), mode: KEY_FILE_MODE },
      { path: certPath, contents: cert.toString("pem") + "\n", mode: CERT_FILE_MODE },
    ],
    options.force ?? false,
  );
  return { certPath, keyPath, notAfter: cert.notAfter, serialHex, fingerprintSha256: await fingerprint(cert) };
}

function extendedKeyUsages(lib: X509Lib, kind: CertKind): string[] {
  switch (kind) {
    case "peer":
      return [lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth];
    case "server":
      return [lib.ExtendedKeyUsage.serverAuth];
    case "client":
      return [lib.ExtendedKeyUsage.clientAuth];
    default:
      throw new CertError(`unknown certificate kind ${JSON.stringify(kind)}; expected peer, server or client`);
  }
}

function subjectAltNames(lib: X509Lib, dns: string[], ip: string[]) {
  return new lib.SubjectAlternativeNameExtension([
    ...dns.map((value) => ({ type: "dns" as const, value })),
    ...ip.map((value) => ({ type: "ip" as const, value })),
  ]);
}

/** Points at the CA's own subject key identifier so chain builders find the issuer. */
async function authorityKeyIdentifier(lib: X509Lib, caCert: InstanceType<X509Lib["X509Certificate"]>) {
  const caKeyId = caCert.getExtension(lib.SubjectKeyIdentifierExtension)?.keyId;
  if (caKeyId !== undefined) return new lib.AuthorityKeyIdentifierExtension(caKeyId);
  return lib.AuthorityKeyIdentifierExtension.create(caCert.publicKey);
}
