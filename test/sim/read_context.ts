// A ReadIndex request's context: the simulated client's read id in 8 bytes.

export function encodeReadId(readId: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, readId);
  return bytes;
}

export function decodeReadId(context: Uint8Array): number {
  if (context.length !== 8) return -1;
  return new DataView(context.buffer, context.byteOffset, 8).getFloat64(0);
}
