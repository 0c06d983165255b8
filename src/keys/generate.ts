/**
 * RSA key pairs for Vonage archive encryption, made with Node's native crypto (node-forge's
 * JavaScript key generation takes seconds to minutes), and the private key's PEM encodings.
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { UsageError } from '../errors.js';
import { encryptPrivateKeyInfo, toPem } from './pbes2.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Vonage: "The size of the key must be 2048 bits or smaller." */
export const VONAGE_MAX_KEY_BITS = 2048;
/** Below this, RSA is no longer considered safe (NIST SP 800-131A). */
export const MIN_KEY_BITS = 2048;
/** OpenSSL's own upper limit for RSA moduli. */
export const MAX_KEY_BITS = 16384;

export interface RsaKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * Generates an RSA key pair (public exponent 65537) without blocking the event loop.
 *
 * @example
 * ```ts
 * const { privateKey, publicKey } = await generateRsaKeyPair(2048);
 * ```
 * @throws UsageError when `bits` is not an integer from 2048 to 16384.
 */
export async function generateRsaKeyPair(bits = VONAGE_MAX_KEY_BITS): Promise<RsaKeyPair> {
  assertKeyBits(bits);
  return generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
}

/** @throws UsageError (exit 2) unless `bits` is a multiple of 8 from 2048 to 16384. */
export function assertKeyBits(bits: number): void {
  if (Number.isInteger(bits) && bits >= MIN_KEY_BITS && bits <= MAX_KEY_BITS && bits % 8 === 0) return;
  throw new UsageError(
    bits < MIN_KEY_BITS
      ? `--bits ${bits} is too small: RSA keys need at least ${MIN_KEY_BITS} bits (Vonage accepts at most ${VONAGE_MAX_KEY_BITS}, so use ${VONAGE_MAX_KEY_BITS})`
      : `--bits must be a multiple of 8 from ${MIN_KEY_BITS} to ${MAX_KEY_BITS} (Vonage accepts at most ${VONAGE_MAX_KEY_BITS})`,
  );
}

/**
 * PEM of a private key: encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, see pbes2.ts for the KDF) when a
 * passphrase is given, plain PKCS#8 (`PRIVATE KEY`) when it is `null`.
 *
 * @example
 * ```ts
 * const pem = await privateKeyToPem(privateKey, process.env.ARCHIVE_KEY_PASSPHRASE!);
 * ```
 */
export async function privateKeyToPem(privateKey: KeyObject, passphrase: string | null): Promise<string> {
  if (passphrase === null) return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const privateKeyInfo = privateKey.export({ type: 'pkcs8', format: 'der' });
  try {
    return toPem('ENCRYPTED PRIVATE KEY', await encryptPrivateKeyInfo(privateKeyInfo, passphrase));
  } finally {
    privateKeyInfo.fill(0);
  }
}
