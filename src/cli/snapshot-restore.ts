// `dkv snapshot restore FILE --data-dir DIR --name NAME --initial-cluster ...`:
// seeds a new member's data dir from a backup made by `dkv snapshot save`, as
// etcdutl does. Run it on every member of the new cluster with the same FILE,
// --initial-cluster, --initial-cluster-token and --initial-cluster-clients and
// each member's own --name and --data-dir; then start each with `dkv serve`
// (the dir is resumed, so the serve --initial-cluster flags are ignored).
//
// Everything written into the dir is the same on every member except the
// member id in its meta table: raft requires all replicas to hold the same
// state at the same index, so member records cannot carry a per-member value
// such as "my own client address" (the old --advertise-client-address idea).
// Client addresses come from --initial-cluster-clients, the same everywhere.
import { defineCommand } from "citty";
import { CliError, UsageError } from "./errors.ts";
import { printJson, writeStdout } from "./client-commands/output.ts";

export const snapshotRestoreCommand = defineCommand({
  meta: { name: "restore", description: "Seed a NEW member's data dir from a backup FILE made by `dkv snapshot save`" },
  args: {
    file: { type: "positional", required: true, description: "The backup file (its SHA-256 seal is checked first)" },
    "data-dir": { type: "string", description: "Data dir to create for this member; must not exist or be empty (required)" },
    name: { type: "string", default: "default", description: "This member's name in the new cluster" },
    "initial-cluster": { type: "string", description: "name=host:port,... peer addresses of ALL members of the new cluster (default: NAME=127.0.0.1:2380)" },
    "initial-cluster-token": { type: "string", default: "dkv-cluster", description: "Token of the new cluster; with --initial-cluster it makes the cluster id" },
    "initial-cluster-clients": {
      type: "string",
      description: "name=host:port,... client addresses advertised for the members (same on every member; others are left empty)",
    },
    output: { type: "string", default: "table", valueHint: "table|json", description: "Output format: table or json" },
  },
  async run({ args }) {
    if (args.output !== "table" && args.output !== "json") throw new UsageError(`--output must be table or json, not "${args.output}"`);
    const dataDir = args["data-dir"];
    if (!dataDir) throw new UsageError("--data-dir is required (a new or empty directory)");
    const { buildConfig, ConfigError, parseHostPort } = await import("../server/config.ts");
    const { newClusterId } = await import("../server/member-storage.ts");
    const { encodeMemberContext, RESERVED_KEY_PREFIX } = await import("../server/members.ts");
    const { restoreDataDir, StorageError } = await import("../storage/index.ts");

    let config;
    let clients: Map<string, string>;
    try {
      // The same validation and normalisation as `dkv serve`, so the cluster id below
      // is exactly the one serve would derive from these flags.
      config = buildConfig({
        name: args.name,
        "data-dir": dataDir,
        "initial-cluster-token": args["initial-cluster-token"],
        ...(args["initial-cluster"] ? { "initial-cluster": args["initial-cluster"] } : {}),
      });
      clients = parseClients(args["initial-cluster-clients"] ?? "", config.initialCluster.map((m) => m.name), parseHostPort);
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }

    // Where members.ts keeps member records (its prefix is private there; the e2e restore test checks they agree).
    const memberPrefix = `${RESERVED_KEY_PREFIX}dkv/member/`;
    const clusterId = newClusterId(config);
    let result;
    try {
      result = await restoreDataDir(args.file, dataDir, {
        clusterId,
        memberId: config.name,
        voters: config.initialCluster.map((m) => m.name),
        dropPrefix: memberPrefix,
        records: config.initialCluster.map((m) => ({
          key: memberPrefix + m.name,
          value: encodeMemberContext({ peerAddress: m.peerAddress, clientAddress: clients.get(m.name) ?? "" }),
        })),
      });
    } catch (error) {
      if (error instanceof StorageError) throw new CliError(error.message);
      // SQLite's own errors (a full disk) do not say where: the restore left nothing behind in dataDir.
      throw new CliError(`restoring ${args.file} into ${dataDir} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const members = config.initialCluster.map((m) => ({ name: m.name, peer_address: m.peerAddress, client_address: clients.get(m.name) ?? "" }));
    if (args.output === "json") {
      printJson({
        data_dir: result.dataDir,
        name: config.name,
        cluster_id: clusterId,
        backup_index: result.backup.index,
        index: result.snapshot.index,
        term: result.snapshot.term,
        keys: result.keysCopied,
        members,
      });
      return;
    }
    writeStdout(
      `restored ${result.keysCopied} key${result.keysCopied === 1 ? "" : "s"} from ${args.file} (backup index ${result.backup.index}) into ${result.dataDir}\n` +
        `member ${config.name} of new cluster ${clusterId}: ${members.map((m) => `${m.name}=${m.peer_address}`).join(",")}\n` +
        `start it with: dkv serve --name ${config.name} --data-dir ${dataDir} (plus its listen addresses)\n`,
    );
  },
});

/** "n0=host:port,..." naming only members of --initial-cluster, each at most once. */
function parseClients(
  value: string,
  names: string[],
  parseHostPort: (value: string, flag: string) => unknown,
): Map<string, string> {
  const clients = new Map<string, string>();
  for (const part of value.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const name = part.slice(0, Math.max(eq, 0));
    if (eq <= 0) throw new UsageError(`--initial-cluster-clients entries must be name=host:port, not "${part}"`);
    if (!names.includes(name)) throw new UsageError(`--initial-cluster-clients names "${name}", which is not in --initial-cluster (${names.join(", ")})`);
    if (clients.has(name)) throw new UsageError(`--initial-cluster-clients lists "${name}" twice`);
    const address = part.slice(eq + 1);
    parseHostPort(address, "initial-cluster-clients");
    clients.set(name, address);
  }
  return clients;
}
