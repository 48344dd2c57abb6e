// `dkv serve`: run a member. With no flags: a single-node store on loopback
// with its data in ./dkv-data. SIGTERM/SIGINT stop it gracefully.
import { defineCommand } from "citty";
import { CliError, UsageError } from "./errors.ts";

export const serveCommand = defineCommand({
  meta: { name: "serve", description: "Run a dkv member (a single-node store on 127.0.0.1:2379 with no flags)" },
  args: {
    name: { type: "string", description: "Member name, unique in the cluster", default: "default" },
    "data-dir": { type: "string", description: "Directory for the member's data", default: "./dkv-data" },
    "listen-peer-address": { type: "string", description: "host:port for peer (raft) traffic", default: "127.0.0.1:2380" },
    "listen-client-address": { type: "string", description: "host:port for the client API", default: "127.0.0.1:2379" },
    "advertise-peer-address": { type: "string", description: "Peer address other members dial (default: the listen address)" },
    "advertise-client-address": { type: "string", description: "Client address advertised to clients (default: the listen address)" },
    "initial-cluster": { type: "string", description: "name=host:port,... of the initial members (first one bootstraps)" },
    "initial-cluster-state": { type: "string", description: "new (form a cluster) or existing (join one)", default: "new" },
    "initial-cluster-token": { type: "string", description: "Distinguishes clusters formed from the same member list", default: "dkv-cluster" },
    "peer-cert-file": { type: "string", description: "Peer TLS certificate (PEM)" },
    "peer-key-file": { type: "string", description: "Peer TLS key (PEM)" },
    "peer-trusted-ca-file": { type: "string", description: "CA that signs every member's peer certificate (enables mutual TLS)" },
    "cert-file": { type: "string", description: "Client API TLS certificate (PEM)" },
    "key-file": { type: "string", description: "Client API TLS key (PEM)" },
    "trusted-ca-file": { type: "string", description: "CA for client certificates (clients must present one)" },
    "listen-metrics-address": { type: "string", description: "Extra plain-HTTP host:port serving /metrics, /healthz and /readyz" },
    "auth-file": { type: "string", description: "JSON file of users (name, password_hash from `dkv auth hash`, role read|write|admin); every RPC then needs one" },
    "heartbeat-interval": { type: "string", description: "Leader heartbeat interval", default: "100ms" },
    "election-timeout": { type: "string", description: "Election timeout", default: "1000ms" },
    "snapshot-count": { type: "string", description: "Applied entries between snapshots", default: "100000" },
    "quota-bytes": { type: "string", description: "Refuse writes once keys and values would exceed this many bytes (they live in memory)", default: "2147483648" },
    "api-worker": { type: "string", description: "Serve the client API from a thread of its own (true) or raft's (false)", default: "false" },
    "log-level": { type: "string", description: "debug, info, warn or error", default: "info" },
  },
  async run({ args }) {
    // First, before any file or socket is opened: this may replace the process.
    const { execWithServeAllocatorSettings, PURGE_DELAY_VARIABLE } = await import("./allocator-settings.ts");
    const allocatorFailure = execWithServeAllocatorSettings();
    const { buildConfig, ConfigError } = await import("../server/config.ts");
    let config;
    try {
      config = buildConfig(args as Record<string, string>);
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
    // Before the member starts: once it serves, nothing may wait between it and the signal handlers below.
    const { currentOpenFileLimit, openFileLimitWarning } = await import("./open-file-limit.ts");
    const limitWarning = openFileLimitWarning(await currentOpenFileLimit());
    const { startMember } = await import("./start-member.ts");
    let member;
    try {
      member = await startMember(config);
    } catch (error) {
      throw new CliError(error instanceof Error ? error.message : String(error));
    }
    if (limitWarning) member.log.warn(limitWarning);
    if (allocatorFailure !== undefined) {
      member.log.warn(`could not restart with ${PURGE_DELAY_VARIABLE} set; running with the allocator's defaults (slower)`, { error: allocatorFailure });
    }
    let failed: string | undefined;
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        member.log.info("stopping", { signal });
        // A second signal or a stuck stop still ends the process.
        setTimeout(() => process.exit(1), 10_000).unref();
        member.stop().then(resolve, (error: unknown) => {
          member.log.error("stop failed", { error });
          resolve();
        });
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      // `systemctl reload dkv`: certificate rotation now rather than at the next 10-s check.
      // Registered only once the member serves: a SIGHUP listener added before
      // the ports exist cost ~4% more server CPU per put at 256 clients (two alternated A/B runs of 6 repeats).
      process.on("SIGHUP", () => {
        if (stopping) return;
        if (member.reloadAuthFile() === false) member.log.info("SIGHUP: auth file unchanged or not usable; users as before");
        void member.reloadCertificates().then((watching) => {
          if (watching) member.log.info("SIGHUP: certificate files checked");
          else member.log.info("SIGHUP: this member runs without TLS; nothing to reload");
        });
      });
      // A member that cannot go on (its client port is gone, its storage failed) must not linger as a
      // voter nobody can reach or that cannot write: stop, exit 1, let the supervisor restart it.
      void member.failure.then((reason) => {
        failed = reason;
        stop("failure");
      });
    });
    if (failed !== undefined) throw new CliError(failed);
  },
});
