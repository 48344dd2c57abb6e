// src/gen must be exactly what buf generates from proto/: a stale or
// hand-edited file fails here.
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, cpSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { tmpdir } from "node:os";

const root = join(import.meta.dir, "..");

/** buf ships one npm package per platform; whichever one npm installed here. */
function bufBinary(): string {
  const dir = join(root, "node_modules/@bufbuild");
  const platform = readdirSync(dir).find((name) => name.startsWith("buf-linux-"));
  if (!platform) throw new Error("no @bufbuild/buf-linux-* package installed: run npm ci");
  return join(dir, platform, "bin/buf");
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

test("src/gen matches what buf generates from proto/", () => {
  const work = mkdtempSync(join(tmpdir(), "dkv-codegen-"));
  try {
    cpSync(join(root, "proto"), join(work, "proto"), { recursive: true });
    cpSync(join(root, "buf.yaml"), join(work, "buf.yaml"));
    const config = readFileSync(join(root, "buf.gen.yaml"), "utf8").replace(
      "local: protoc-gen-es",
      `local: ${join(root, "node_modules/.bin/protoc-gen-es")}`,
    );
    writeFileSync(join(work, "buf.gen.yaml"), config);
    const result = Bun.spawnSync([bufBinary(), "generate"], { cwd: work, stderr: "pipe" });
    expect(result.stderr.toString()).toBe("");
    expect(result.exitCode).toBe(0);

    const fresh = listFiles(join(work, "src/gen")).map((p) => relative(join(work, "src/gen"), p));
    const committed = listFiles(join(root, "src/gen")).map((p) => relative(join(root, "src/gen"), p));
    expect(committed).toEqual(fresh);
    for (const file of fresh) {
      const want = readFileSync(join(work, "src/gen", file), "utf8");
      const have = readFileSync(join(root, "src/gen", file), "utf8");
      if (have !== want) throw new Error(`src/gen/${file} is stale: run \`npm run codegen\` and commit the result`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 30_000);
