// Leases live in the key space under reserved keys, next to the member
// records, so snapshot images, restores and log replay carry them with no
// format of their own:
//   "\0dkv/lease/<id>"            the lease; its value is the granted TTL in seconds
//   "\0dkv/lease-key/<id>/<key>"  one per key attached to the lease (empty value)
// Ids are written as 14 hex digits (every id is below 2^53) so a lease's
// attachments form one contiguous range of the ordered key space.
// Only time is not here: when a lease ends is the leader's business
// (src/server/lease-expiry.ts), and it ends by a replicated revoke.

export const LEASE_RECORD_PREFIX = "\u0000dkv/lease/";
export const LEASE_KEY_PREFIX = "\u0000dkv/lease-key/";
/** Largest lease id: ids travel as uint64 but live as JavaScript numbers. */
export const MAX_LEASE_ID = Number.MAX_SAFE_INTEGER;
/** Longest TTL a lease may ask for (a year), so deadlines stay far from overflow and typos show. */
export const MAX_LEASE_TTL_SECONDS = 365 * 24 * 3600;

function idText(id: number): string {
  return id.toString(16).padStart(14, "0");
}

export function leaseRecordKey(id: number): string {
  return LEASE_RECORD_PREFIX + idText(id);
}

/** The prefix of every attachment of lease `id`. */
export function leaseKeysPrefix(id: number): string {
  return `${LEASE_KEY_PREFIX}${idText(id)}/`;
}

export function leaseAttachmentKey(id: number, key: string): string {
  return leaseKeysPrefix(id) + key;
}

/** The lease id and key of an attachment key; undefined if it is none. */
export function parseLeaseAttachment(name: string): { id: number; key: string } | undefined {
  if (!name.startsWith(LEASE_KEY_PREFIX)) return undefined;
  const rest = name.slice(LEASE_KEY_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash !== 14) return undefined;
  const id = parseInt(rest.slice(0, 14), 16);
  return Number.isSafeInteger(id) && id > 0 ? { id, key: rest.slice(15) } : undefined;
}

/** The lease id of a record key; undefined if it is none. */
export function parseLeaseRecordKey(name: string): number | undefined {
  if (!name.startsWith(LEASE_RECORD_PREFIX) || name.length !== LEASE_RECORD_PREFIX.length + 14) return undefined;
  const id = parseInt(name.slice(LEASE_RECORD_PREFIX.length), 16);
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeLeaseTtl(ttlSeconds: number): Uint8Array {
  return encoder.encode(String(ttlSeconds));
}

export function decodeLeaseTtl(value: Uint8Array): number {
  const ttl = Number(decoder.decode(value));
  return Number.isSafeInteger(ttl) && ttl > 0 ? ttl : 1;
}
