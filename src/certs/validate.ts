// Input checks for certificate requests. Pure functions: they throw CertError
// with the offending value so the person can fix the flag.
import { isIP } from "node:net";
import { CertError } from "./errors";
import { MAX_COMMON_NAME_CHARS, MAX_VALIDITY_DAYS } from "./limits";

/** NAME becomes a file name and a CN: keep it to characters safe in both. */
const LEAF_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A DNS label (RFC 1123), optionally a leading wildcard label. */
const DNS_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const DNS_NAME_PATTERN = new RegExp(`^(?:\\*\\.)?${DNS_LABEL}(?:\\.${DNS_LABEL})*\\.?$`);
const MAX_DNS_NAME_CHARS = 253;
// Control characters would corrupt the subject and the terminal printing it.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export function checkValidityDays(days: number, flag = "--days"): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS) {
    throw new CertError(`${flag} must be a whole number of days from 1 to ${MAX_VALIDITY_DAYS}, got ${days}`);
  }
}

export function checkLeafName(name: string): void {
  if (!LEAF_NAME_PATTERN.test(name)) {
    throw new CertError(
      `certificate name ${JSON.stringify(name)} must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  if (name === "ca") {
    throw new CertError(`certificate name "ca" is reserved for the CA files (ca.crt, ca.key); pick another name`);
  }
}

export function checkCommonName(cn: string): void {
  if (cn.trim().length === 0 || cn.length > MAX_COMMON_NAME_CHARS || CONTROL_CHARS.test(cn)) {
    throw new CertError(
      `common name ${JSON.stringify(cn)} must be 1-${MAX_COMMON_NAME_CHARS} printable characters`,
    );
  }
}

export function checkDnsName(dns: string): void {
  if (dns.length > MAX_DNS_NAME_CHARS || !DNS_NAME_PATTERN.test(dns)) {
    throw new CertError(`--dns ${JSON.stringify(dns)} is not a valid DNS name`);
  }
}

export function checkIpAddress(ip: string): void {
  if (isIP(ip) === 0) {
    throw new CertError(`--ip ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  }
}
