/** The two functions of ed2curve 0.3.0 we use; the package ships no types. */
declare module 'ed2curve' {
  /** Ed25519 public key (32 bytes) → X25519 public key, or null when the bytes are not a valid point. */
  export function convertPublicKey(edPublicKey: Uint8Array): Uint8Array | null;
  /** Ed25519 secret key (64 bytes, seed‖pk) → clamped X25519 secret key. */
  export function convertSecretKey(edSecretKey: Uint8Array): Uint8Array;
}
