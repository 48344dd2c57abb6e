// The Bun runtime a `bun build --compile` output embeds, per target. The host's
// own runtime (process.execPath) serves its own platform; any other target's
// runtime comes from the npm registry package @oven/bun-<os>-<arch> of the
// SAME Bun version (the bundle format is tied to it), fetched with `npm pack`
// (npm checks the tarball's integrity and honours the project's npm config)
// and handed to Bun as --compile-executable-path.
//
// Why not let `bun build --target=bun-linux-arm64` download it: it works
// (Bun 1.4.5 fetches from registry.npmjs.org), but it skips the npm config
// (mirrors, proxies), caches under ~/.bun outside the project, and its
// download is not integrity-checked against the registry metadata.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, closeSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface BunTarget {
  /** goreleaser-style names used in archive names. */
  os: "linux";
  arch: "amd64" | "arm64";
  /** Bun's --target name. */
  bunTarget: string;
  /** npm package holding bin/bun for this target. */
  runtimePackage: string;
  /** ELF e_machine of binaries for this target (checked on what we fetch and build). */
  elfMachine: number;
}

const ELF_MACHINE_X86_64 = 0x3e;
const ELF_MACHINE_AARCH64 = 0xb7;

export const BUN_TARGETS: readonly BunTarget[] = [
  { os: "linux", arch: "amd64", bunTarget: "bun-linux-x64", runtimePackage: "@oven/bun-linux-x64", elfMachine: ELF_MACHINE_X86_64 },
  { os: "linux", arch: "arm64", bunTarget: "bun-linux-arm64", runtimePackage: "@oven/bun-linux-aarch64", elfMachine: ELF_MACHINE_AARCH64 },
];

const PROJECT_ROOT = join(import.meta.dir, "..");
/** Fetched runtimes live here between runs (about 100 MiB each). */
export const DEFAULT_RUNTIME_CACHE_DIR = join(PROJECT_ROOT, "node_modules", ".cache", "dkv-release");
const NPM_PACK_TIMEOUT_MS = 300_000;

export function findTarget(os: string, arch: string): BunTarget {
  const target = BUN_TARGETS.find((t) => t.os === os && t.arch === arch);
  if (!target) {
    const known = BUN_TARGETS.map((t) => `${t.os}/${t.arch}`).join(", ");
    throw new Error(`no Bun target for ${os}/${arch}; known: ${known}`);
  }
  return target;
}

/** The target this process runs on, if it is one we build. */
export function hostTarget(): BunTarget | undefined {
  const arch = process.arch === "x64" ? "amd64" : process.arch === "arm64" ? "arm64" : undefined;
  if (process.platform !== "linux" || arch === undefined) return undefined;
  return findTarget("linux", arch);
}

/** e_machine of an ELF file, or undefined if it is not a 64-bit little-endian ELF. */
export function elfMachine(path: string): number | undefined {
  const header = new Uint8Array(20);
  const fd = openSync(path, "r");
  try {
    if (readSync(fd, header, 0, header.length, 0) < header.length) return undefined;
  } finally {
    closeSync(fd);
  }
  const isElf = header[0] === 0x7f && header[1] === 0x45 && header[2] === 0x4c && header[3] === 0x46;
  // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian.
  if (!isElf || header[4] !== 2 || header[5] !== 1) return undefined;
  return new DataView(header.buffer).getUint16(18, true);
}

/**
 * Path of a Bun executable of version `bunVersion` for `target`: the host's own
 * runtime when it matches, else the cached (or freshly fetched) npm package.
 */
export function resolveRuntime(target: BunTarget, options: { bunVersion?: string; cacheDir?: string } = {}): string {
  const bunVersion = options.bunVersion ?? Bun.version;
  const host = hostTarget();
  if (host === target && bunVersion === Bun.version) return process.execPath;
  const cacheDir = options.cacheDir ?? process.env.DKV_RELEASE_CACHE_DIR ?? DEFAULT_RUNTIME_CACHE_DIR;
  const cached = join(cacheDir, `${target.runtimePackage.replace("/", "__")}-${bunVersion}`, "bun");
  if (existsSync(cached) && elfMachine(cached) === target.elfMachine) return cached;
  fetchRuntime(target, bunVersion, cached);
  return cached;
}

function fetchRuntime(target: BunTarget, bunVersion: string, destination: string): void {
  const parent = join(destination, "..");
  mkdirSync(join(parent, ".."), { recursive: true });
  // Everything happens in a scratch dir next to the cache entry, published by
  // one rename, so an interrupted fetch never leaves a half-written runtime.
  const scratch = mkdtempSync(`${parent}.fetch-`);
  try {
    const spec = `${target.runtimePackage}@${bunVersion}`;
    const pack = Bun.spawnSync(["npm", "pack", spec, "--pack-destination", scratch, "--json", "--loglevel=error"], {
      cwd: scratch,
      timeout: NPM_PACK_TIMEOUT_MS,
    });
    if (pack.exitCode !== 0) {
      throw new Error(`npm pack ${spec} failed (exit ${pack.exitCode}): ${pack.stderr.toString().trim()}`);
    }
    const filename = (JSON.parse(pack.stdout.toString()) as Array<{ filename: string }>)[0]?.filename;
    if (!filename) throw new Error(`npm pack ${spec} printed no file name`);
    const untar = Bun.spawnSync(["tar", "-xzf", join(scratch, filename), "-C", scratch, "package/bin/bun"]);
    if (untar.exitCode !== 0) throw new Error(`${filename} has no package/bin/bun: ${untar.stderr.toString().trim()}`);
    const runtime = join(scratch, "package", "bin", "bun");
    const machine = elfMachine(runtime);
    if (machine !== target.elfMachine) {
      throw new Error(`${spec}: bin/bun is ELF machine ${machine}, expected ${target.elfMachine} for ${target.os}/${target.arch}`);
    }
    chmodSync(runtime, 0o755);
    const entry = mkdtempSync(`${parent}.entry-`);
    renameSync(runtime, join(entry, "bun"));
    rmSync(parent, { recursive: true, force: true });
    renameSync(entry, parent);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
