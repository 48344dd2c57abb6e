// .goreleaser-like-release.yml read into a checked ReleaseConfig. Parsed with
// Bun.YAML (built into Bun, so no YAML package is needed). Every key is
// checked: a typo in a release config must stop the release, not quietly
// produce archives without the file someone meant to add.

export interface BuildConfig {
  id: string;
  /** Entry point, relative to the project root. */
  entry: string;
  /** File name of the binary inside each archive. */
  binary: string;
  os: string[];
  arch: string[];
  /** Extra `bun build` flags. */
  flags: string[];
  /** name -> template; each becomes --define NAME="value". */
  defines: Record<string, string>;
}

export interface ArchiveConfig {
  id: string;
  builds: string[];
  format: "tar.gz";
  nameTemplate: string;
  /** Project-relative paths copied into the archive at the same relative path. */
  files: string[];
}

export interface ReleaseConfig {
  projectName: string;
  builds: BuildConfig[];
  archives: ArchiveConfig[];
  checksum: { nameTemplate: string; algorithm: "sha256" };
}

export class ReleaseConfigError extends Error {}

type Node = Record<string, unknown>;

function fail(where: string, message: string): never {
  throw new ReleaseConfigError(`release config: ${where}: ${message}`);
}

function object(value: unknown, where: string, allowed: readonly string[]): Node {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, "expected a mapping");
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(where, `unknown key "${key}" (allowed: ${allowed.join(", ")})`);
  }
  return value as Node;
}

function string(node: Node, key: string, where: string): string {
  const value = node[key];
  if (typeof value !== "string" || value === "") fail(`${where}.${key}`, "expected a non-empty string");
  return value;
}

function strings(node: Node, key: string, where: string, options: { optional?: boolean } = {}): string[] {
  const value = node[key];
  if (value === undefined && options.optional) return [];
  if (!Array.isArray(value) || value.length === 0) fail(`${where}.${key}`, "expected a non-empty list of strings");
  for (const item of value) if (typeof item !== "string" || item === "") fail(`${where}.${key}`, `"${String(item)}" is not a non-empty string`);
  return value as string[];
}

function list(node: Node, key: string, where: string): unknown[] {
  const value = node[key];
  if (!Array.isArray(value) || value.length === 0) fail(`${where}.${key}`, "expected a non-empty list");
  return value;
}

/** A relative path that stays inside the project (no "..", no absolute path). */
function projectPath(path: string, where: string): string {
  if (path.startsWith("/") || path.split("/").some((part) => part === ".." || part === "")) {
    fail(where, `"${path}" must be a relative path inside the project`);
  }
  return path;
}

function parseBuild(value: unknown, where: string): BuildConfig {
  const node = object(value, where, ["id", "entry", "binary", "os", "arch", "flags", "defines"]);
  const definesNode = node.defines === undefined ? {} : object(node.defines, `${where}.defines`, Object.keys(node.defines as object));
  const defines: Record<string, string> = {};
  for (const [name, template] of Object.entries(definesNode)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) fail(`${where}.defines`, `"${name}" is not an UPPER_SNAKE identifier`);
    if (typeof template !== "string") fail(`${where}.defines.${name}`, "expected a string");
    defines[name] = template;
  }
  const binary = string(node, "binary", where);
  if (binary.includes("/")) fail(`${where}.binary`, `"${binary}" must be a plain file name`);
  return {
    id: string(node, "id", where),
    entry: projectPath(string(node, "entry", where), `${where}.entry`),
    binary,
    os: strings(node, "os", where),
    arch: strings(node, "arch", where),
    flags: strings(node, "flags", where, { optional: true }),
    defines,
  };
}

function parseArchive(value: unknown, where: string, buildIds: string[]): ArchiveConfig {
  const node = object(value, where, ["id", "builds", "format", "name_template", "files"]);
  const builds = strings(node, "builds", where);
  for (const id of builds) if (!buildIds.includes(id)) fail(`${where}.builds`, `no build with id "${id}"`);
  const format = string(node, "format", where);
  if (format !== "tar.gz") fail(`${where}.format`, `only tar.gz is supported, not "${format}"`);
  const files = strings(node, "files", where).map((path, i) => projectPath(path, `${where}.files[${i}]`));
  return { id: string(node, "id", where), builds, format, nameTemplate: string(node, "name_template", where), files };
}

export function parseReleaseConfig(text: string): ReleaseConfig {
  let document: unknown;
  try {
    document = Bun.YAML.parse(text);
  } catch (error) {
    throw new ReleaseConfigError(`release config is not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  const root = object(document, "top level", ["project_name", "builds", "archives", "checksum"]);
  const builds = list(root, "builds", "top level").map((b, i) => parseBuild(b, `builds[${i}]`));
  const buildIds = builds.map((b) => b.id);
  if (new Set(buildIds).size !== buildIds.length) fail("builds", "build ids must be unique");
  const archives = list(root, "archives", "top level").map((a, i) => parseArchive(a, `archives[${i}]`, buildIds));
  const checksum = object(root.checksum, "checksum", ["name_template", "algorithm"]);
  const algorithm = string(checksum, "algorithm", "checksum");
  if (algorithm !== "sha256") fail("checksum.algorithm", `only sha256 is supported, not "${algorithm}"`);
  return {
    projectName: string(root, "project_name", "top level"),
    builds,
    archives,
    checksum: { nameTemplate: string(checksum, "name_template", "checksum"), algorithm },
  };
}

export type TemplateValues = Partial<Record<"ProjectName" | "Version" | "ShortCommit" | "Os" | "Arch", string>>;

/** Expands {{ .Name }}; a name without a value here is an error, not an empty string. */
export function expandTemplate(template: string, values: TemplateValues, where: string): string {
  return template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, name: string) => {
    const value = values[name as keyof TemplateValues];
    if (value === undefined) fail(where, `template field {{ .${name} }} is not available here (have: ${Object.keys(values).join(", ")})`);
    return value;
  });
}
