// Every limit of the peer transport, with its unit, in one place. Options
// on PeerTransport override the ones marked "default".

/** Frame header: the body length as a 4-byte big-endian unsigned integer. */
export const FRAME_HEADER_BYTES = 4;
/** Default largest frame body accepted or sent; a snapshot chunk or an Append batch must fit. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Until a connection has said Hello it may not make us buffer more than this. */
export const MAX_HELLO_FRAME_BYTES = 64 * 1024;
/** Wire protocol spoken by this build; a Hello with another version is refused. */
export const PROTOCOL_VERSION = 1;

/** Default cap on frames waiting for one peer; the oldest are dropped beyond it (raft retries). */
export const DEFAULT_MAX_QUEUED_FRAMES = 4096;
/** Default cap on bytes waiting for one peer. At least one maximal frame must fit. */
export const DEFAULT_MAX_QUEUED_BYTES = 128 * 1024 * 1024;
/** Frames queued together are copied into one write up to this size; a larger frame is written alone, uncopied. */
export const MAX_WRITE_BATCH_BYTES = 1024 * 1024;

/** Default reconnect backoff: first retry after ~this, doubling per failure... */
export const DEFAULT_BACKOFF_INITIAL_MS = 50;
/** ...up to this cap. */
export const DEFAULT_BACKOFF_MAX_MS = 2000;
/** Default: a dial (TCP + TLS + the peer's Hello) that takes longer than this has failed. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** Default: an accepted connection that has not said Hello by then is closed. */
export const DEFAULT_HELLO_TIMEOUT_MS = 10_000;
/** Repeated conditions (a peer still down, a queue still overflowing) are logged at most this often. */
export const REPEAT_LOG_INTERVAL_MS = 30_000;
