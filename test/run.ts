// The project's test command (`npm test`): runs `bun test` over test/ and
// ends with the one line CI reads, "N passed, N failed". bun prints its own
// summary on stderr in a shape CI does not count, so we count it here.
export {};

const args = process.argv.slice(2);

// End-to-end tests run the compiled binary, so build it first.
const build = Bun.spawnSync(["npm", "run", "--silent", "build"], { stdout: "inherit", stderr: "inherit" });
if (build.exitCode !== 0) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const proc = Bun.spawn(["bun", "test", ...args], {
  stdout: "pipe",
  stderr: "pipe",
  env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
});

let tail = "";
async function pump(stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.write(chunk);
    // Keep only the end: the summary is in the last lines.
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-8192);
  }
}

await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
const exitCode = await proc.exited;

const passed = Number(/^\s*(\d+) pass$/m.exec(tail)?.[1] ?? 0);
const failed = Number(/^\s*(\d+) fail$/m.exec(tail)?.[1] ?? 0);
// A crash before the summary is a failure even if nothing was counted as one.
const failedCount = exitCode !== 0 && failed === 0 ? 1 : failed;
console.log(`${passed} passed, ${failedCount} failed`);
process.exit(exitCode !== 0 || failedCount > 0 || passed === 0 ? 1 : 0);
