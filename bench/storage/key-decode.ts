// What a put's key costs between the wire and the key space, on every member
// for every put it applies: the key is read out of the entry's bytes and then
// looked up and set in a Map of 10,000 keys. Compares the decoder in use
// (src/wire/fields.ts asciiText) with building the same string char by char,
// which makes a rope that the first Map operation has to flatten.
// Run: bun run bench/storage/key-decode.ts [--keys N] [--rounds N]
import { parseArgs } from "node:util";
import { asciiText } from "../../src/wire/fields";

const { values } = parseArgs({ options: { keys: { type: "string", default: "10000" }, rounds: { type: "string", default: "15" } } });
const keyCount = Number(values.keys);
const rounds = Number(values.rounds);

function charByChar(bytes: Uint8Array, start: number, stop: number): string | undefined {
  let text = "";
  for (let i = start; i < stop; i++) {
    const byte = bytes[i]!;
    if (byte > 0x7f) return undefined;
    text += String.fromCharCode(byte);
  }
  return text;
}

// Each key sits inside a larger buffer, as it does inside a received frame.
const framed: Uint8Array[] = [];
const state = new Map<string, number>();
for (let i = 0; i < keyCount; i++) {
  const key = `key-${String(i).padStart(8, "0")}`;
  const frame = new Uint8Array(64);
  frame.set(Buffer.from(key), 5);
  framed.push(frame);
  state.set(key, i);
}
const order = Array.from({ length: keyCount }, (_, i) => (i * 7919) % keyCount);
const decoders = { asciiText, charByChar } as const;
const samples: Record<keyof typeof decoders, number[]> = { asciiText: [], charByChar: [] };
const KEY_END = 5 + 12;

for (let round = 0; round < rounds; round++) {
  for (const name of Object.keys(decoders) as (keyof typeof decoders)[]) {
    const decode = decoders[name];
    let sum = 0;
    const started = Bun.nanoseconds();
    for (let pass = 0; pass < 20; pass++) {
      for (const i of order) {
        const key = decode(framed[i]!, 5, KEY_END)!;
        sum += state.get(key)!;
        state.set(key, sum & 0xff);
      }
    }
    // The first rounds warm the JIT up.
    if (round >= 3) samples[name].push((Bun.nanoseconds() - started) / (20 * keyCount));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`decode + Map get + Map set per key, ${keyCount} keys, median of ${rounds - 3} alternated rounds:`);
for (const [name, xs] of Object.entries(samples)) console.log(`  ${name.padEnd(10)} ${median(xs).toFixed(0)} ns (min ${Math.min(...xs).toFixed(0)})`);
console.log(`command: bun run bench/storage/key-decode.ts --keys ${keyCount} --rounds ${rounds}`);
