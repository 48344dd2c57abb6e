// Certificate rotation for a running member. The files the TLS flags name are
// read again every CERTIFICATE_CHECK_INTERVAL_MS and on SIGHUP; when their
// contents changed and pass the checks made at start (readable PEM, key of
// that certificate, not expired), handshakes from then on use them. Files
// that fail the checks - say a certificate written before its key - leave
// the member on the certificates it has, with one warning per problem.
import { readFileSync } from "node:fs";
import { CertError, loadTlsFiles, type TlsFilePaths } from "../certs/index.ts";
import type { Logger } from "../server/logger.ts";
import { ListenerLostError } from "../transport/index.ts";

/** A cert-manager or Vault renewal is in use within this long, without a signal. */
export const CERTIFICATE_CHECK_INTERVAL_MS = 10_000;

export interface PemMaterial {
  cert: string;
  key: string;
  ca?: string;
}

/** One set of files and what serves them (the peer port and dialer, or the client port). */
export interface CertificateTarget {
  /** "peer" or "client": how log lines name it. */
  name: string;
  files: TlsFilePaths;
  /** What serves now, as loaded at start. */
  current: PemMaterial;
  /** Makes handshakes use `material`; throws (the old material still serving) if it cannot. */
  apply(material: PemMaterial): void | Promise<void>;
}

export class CertificateReloader {
  private readonly lastProblem = new Map<string, string>();
  private checking: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly targets: CertificateTarget[],
    private readonly log: Logger,
    /** The member can no longer be reached (a port could not be bound again): it should stop. */
    private readonly onFatal: (reason: string) => void,
  ) {}

  get watching(): boolean {
    return this.targets.length > 0;
  }

  /** Checks every CERTIFICATE_CHECK_INTERVAL_MS until stop(). */
  start(intervalMs = CERTIFICATE_CHECK_INTERVAL_MS): void {
    if (this.targets.length === 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the files now and switches to them if they changed and are usable. Never throws; checks run one at a time. */
  check(): Promise<void> {
    this.checking = this.checking.then(async () => {
      for (const target of this.targets) await this.checkTarget(target);
    });
    return this.checking;
  }

  private async checkTarget(target: CertificateTarget): Promise<void> {
    if (!this.changed(target)) {
      this.lastProblem.delete(target.name);
      return;
    }
    let loaded: ReturnType<typeof loadTlsFiles>;
    try {
      loaded = loadTlsFiles(target.files);
    } catch (error) {
      return this.problem(target, error instanceof CertError ? error.message : String(error));
    }
    const material: PemMaterial = { cert: loaded.cert, key: loaded.key, ...(loaded.ca === undefined ? {} : { ca: loaded.ca }) };
    try {
      await target.apply(material);
    } catch (error) {
      if (error instanceof ListenerLostError) {
        this.log.error(`${target.name} certificates: ${error.message}`);
        return this.onFatal(error.message);
      }
      return this.problem(target, error instanceof Error ? error.message : String(error));
    }
    target.current = material;
    this.lastProblem.delete(target.name);
    this.log.info(`now using the new ${target.name} certificate files`, { cert: target.files.cert, expires: loaded.certNotAfter.toISOString() });
    for (const warning of loaded.warnings) this.log.warn(warning);
  }

  /** Whether any file's text differs from what serves; an unreadable file counts as changed (the load then says why). */
  private changed(target: CertificateTarget): boolean {
    const read = (path: string): string | undefined => {
      try {
        return readFileSync(path, "utf8");
      } catch {
        return undefined;
      }
    };
    const { files, current } = target;
    if (read(files.cert) !== current.cert || read(files.key) !== current.key) return true;
    return files.ca !== undefined && read(files.ca) !== current.ca;
  }

  private problem(target: CertificateTarget, reason: string): void {
    if (this.lastProblem.get(target.name) === reason) return;
    this.lastProblem.set(target.name, reason);
    this.log.warn(`the ${target.name} certificate files changed but cannot be used; still using the ones loaded before`, { error: reason });
  }
}
