/**
 * What keys and ids look like (docs/protocol.md §2), decided here and nowhere else. Case is part of the rule: the
 * broker finds members and routes DMs by exact key, so every key we send or store is lowercase; signatures, and public
 * keys we only verify with, the broker accepts in either case, and so do we.
 */

/** An Ed25519 public key as sent and stored: 64 lowercase hex characters. */
export const PUBLIC_KEY = /^[0-9a-f]{64}$/;

/** A libsodium secret key (the 32-byte seed, then the public key): 128 lowercase hex characters. */
export const SECRET_KEY = /^[0-9a-f]{128}$/;

/** A public key only verified with or converted, whoever wrote it (an invite's owner key, a sender): 64 hex, any case. */
export const ANY_CASE_PUBLIC_KEY = /^[0-9a-fA-F]{64}$/;

/** A detached Ed25519 signature: 128 hex characters, either case. */
export const SIGNATURE = /^[0-9a-fA-F]{128}$/;

/** A mesh or member id: 32 base62 characters. */
export const BASE62_ID = /^[0-9A-Za-z]{32}$/;
