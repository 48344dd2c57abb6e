// Child process of stock-vs-lean.ts: an API server around the in-memory test
// node, so the parent can read this process's CPU time alone.
// Protocol: prints {"port":N} once listening; answers each stdin line "cpu"
// with {"userMicros":N,"systemMicros":N}; exits on "exit" or end of stdin.
import { startApiServer } from "../../src/api/index.js";
import { MemoryNode } from "../../test/api/memory-node.js";

const leanUnary = process.argv.includes("--lean");
const node = new MemoryNode();
await node.put("bench-key", new Uint8Array(100).fill(120));
const api = await startApiServer({ node, listenAddress: "127.0.0.1:0", leanUnary, log: () => {} });
console.log(JSON.stringify({ port: api.port }));

const decoder = new TextDecoder();
let pending = "";
for await (const chunk of Bun.stdin.stream()) {
  pending += decoder.decode(chunk);
  let newline: number;
  while ((newline = pending.indexOf("\n")) >= 0) {
    const command = pending.slice(0, newline).trim();
    pending = pending.slice(newline + 1);
    if (command === "cpu") {
      const usage = process.cpuUsage();
      console.log(JSON.stringify({ userMicros: usage.user, systemMicros: usage.system }));
    } else if (command === "exit") {
      await api.stop();
      process.exit(0);
    }
  }
}
await api.stop();
