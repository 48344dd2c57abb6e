// TLS material of the client port, read once at start. Each problem is one
// line naming the option and the file, because a wrong path is the usual
// cause and the operator needs to see which one.
import { readFileSync } from "node:fs";
import { ApiServerError } from "./options.js";

export interface ServerTls {
  cert: string;
  key: string;
  ca?: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

export interface TlsFiles {
  certFile?: string;
  keyFile?: string;
  trustedCaFile?: string;
}

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY_PEM = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;

/** undefined = plain HTTP; otherwise Bun.serve's tls options (mutual TLS when a CA is given). */
export function loadServerTls(files: TlsFiles): ServerTls | undefined {
  const { certFile, keyFile, trustedCaFile } = files;
  if (certFile === undefined && keyFile === undefined) {
    if (trustedCaFile !== undefined) {
      throw new ApiServerError(`trustedCaFile ${trustedCaFile} is set but certFile and keyFile are not: client certificates need a TLS port`);
    }
    return undefined;
  }
  if (certFile === undefined) throw new ApiServerError(`keyFile ${keyFile} is set but certFile is not: give both for TLS`);
  if (keyFile === undefined) throw new ApiServerError(`certFile ${certFile} is set but keyFile is not: give both for TLS`);
  const cert = readPem("certFile", certFile, CERTIFICATE_PEM, "a PEM certificate");
  const key = readPem("keyFile", keyFile, PRIVATE_KEY_PEM, "a PEM private key");
  if (trustedCaFile === undefined) return { cert, key, requestCert: false, rejectUnauthorized: false };
  const ca = readPem("trustedCaFile", trustedCaFile, CERTIFICATE_PEM, "PEM CA certificates");
  return { cert, key, ca, requestCert: true, rejectUnauthorized: true };
}

function readPem(option: string, path: string, expected: RegExp, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    throw new ApiServerError(`${option} ${path}: cannot read it (${describeReadError(reason)})`);
  }
  if (!expected.test(text)) throw new ApiServerError(`${option} ${path}: does not contain ${what}`);
  return text;
}

function describeReadError(code: string): string {
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    default:
      return code;
  }
}
