// Defaults and limits of the certificates dkv mints, in one place.

/** A CA outlives many leaf rotations. */
export const CA_DEFAULT_VALIDITY_DAYS = 3650;
/** Leaves are rotated more often than the CA. */
export const LEAF_DEFAULT_VALIDITY_DAYS = 365;
/** Upper bound on --days: anything above is a typo, not a policy. */
export const MAX_VALIDITY_DAYS = 36500;
/** notBefore is set this far in the past so a peer whose clock lags a little accepts a fresh certificate. */
export const CLOCK_SKEW_BACKDATE_MS = 5 * 60 * 1000;
/** Serial numbers are random (RFC 5280 allows up to 20 octets; CA/B asks for at least 64 random bits). */
export const SERIAL_BYTES = 16;
/** X.520 upper bound for a common name. */
export const MAX_COMMON_NAME_CHARS = 64;

export const KEY_FILE_MODE = 0o600;
export const CERT_FILE_MODE = 0o644;
/** A directory we create holds a private key: owner only. */
export const CERT_DIR_MODE = 0o700;

export const CA_CERT_FILE = "ca.crt";
export const CA_KEY_FILE = "ca.key";
