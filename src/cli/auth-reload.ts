// Reads --auth-file again on SIGHUP and every 10 s, as the certificate files
// are: a changed file that parses replaces the users at once (passwords
// checked before are checked again); one that does not is logged and the
// users loaded before stay, so a half-written file never locks everyone out.
import { readFileSync } from "node:fs";
import { parseAuthFile, type Authenticator } from "../api/auth.ts";
import type { Logger } from "../server/logger.ts";

export const AUTH_FILE_CHECK_INTERVAL_MS = 10_000;

export class AuthFileReloader {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastProblem: string | undefined;

  constructor(
    private readonly path: string,
    private readonly auth: Authenticator,
    /** The file's text as loaded at start. */
    private loadedText: string,
    private readonly log: Logger,
  ) {}

  start(intervalMs = AUTH_FILE_CHECK_INTERVAL_MS): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the file now; true when it changed and its users are in use. Never throws. */
  check(): boolean {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      this.problem(`cannot read it: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
    if (text === this.loadedText) return false;
    try {
      const users = parseAuthFile(text, this.path);
      this.auth.replaceUsers(users);
      this.loadedText = text;
      this.lastProblem = undefined;
      this.log.info("auth file reloaded", { file: this.path, users: users.length });
      return true;
    } catch (error) {
      this.problem(error instanceof Error ? error.message : String(error));
      return false;
    }
  }

  /** Logged once per distinct problem, not every 10 s. */
  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.log.error("auth file not reloaded; the users loaded before stay", { file: this.path, problem: message });
  }
}
