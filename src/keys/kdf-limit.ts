/**
 * The cap on key-derivation iterations a key file may ask for, and its check on an encrypted PKCS#8
 * key before OpenSSL sees it. Free of node-forge (a minimal DER walk), so that loading a key stays
 * light (test/cli-lazy-loading.test.ts).
 */
import { KeyError } from '../errors.js';

/**
 * The most key-derivation iterations a file we read may ask for. The count is the file's to choose,
 * so an unbounded one lets a crafted key file keep a command (or the service) busy for days; 10
 * million is 16 times what we write and takes a few seconds.
 */
export const MAX_KDF_ITERATIONS = 10_000_000;

/** `iterations` from a file, or a KeyError (exit 3) when it is beyond MAX_KDF_ITERATIONS or not positive. */
export function checkedIterations(iterations: number, label: string): number {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_KDF_ITERATIONS) {
    throw new KeyError(
      `${label} asks for ${iterations.toLocaleString('en-US')} key-derivation iterations, outside 1 to ${MAX_KDF_ITERATIONS.toLocaleString('en-US')}; refusing it (a damaged or hostile file)`,
    );
  }
  return iterations;
}

const PBES2 = Buffer.from('2a864886f70d01050d', 'hex'); // 1.2.840.113549.1.5.13
const PBKDF2 = Buffer.from('2a864886f70d01050c', 'hex'); // 1.2.840.113549.1.5.12

interface Tlv {
  tag: number;
  body: Buffer;
}

/** The TLVs one after another in `bytes` (DER: definite lengths only). */
function elements(bytes: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < bytes.length; ) {
    const tag = bytes[at] ?? 0;
    let length = bytes[at + 1] ?? 0;
    at += 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4) throw new Error('unsupported DER length');
      length = bytes.subarray(at, at + count).reduce((value, byte) => value * 256 + byte, 0);
      at += count;
    }
    if (at + length > bytes.length) throw new Error('truncated DER');
    out.push({ tag, body: bytes.subarray(at, at + length) });
    at += length;
  }
  return out;
}

const inside = (tlv: Tlv | undefined): Tlv[] => (tlv && tlv.tag & 0x20 ? elements(tlv.body) : []);
const integer = (tlv: Tlv | undefined): number => {
  if (tlv?.tag !== 0x02) throw new Error('expected an INTEGER');
  return tlv.body.reduce((value, byte) => value * 256 + byte, 0);
};

/**
 * Refuses an encrypted PKCS#8 key (EncryptedPrivateKeyInfo, DER) whose key derivation asks for more
 * than MAX_KDF_ITERATIONS, before anyone derives a key from it: Node's `createPrivateKey` hands the
 * file to OpenSSL, which runs PBKDF2 synchronously with the file's count — the process could not even
 * be stopped by a signal. PBES2 (PBKDF2) and the PKCS#5 v1 / PKCS#12 PBE schemes ({salt, iterations})
 * are checked; anything it cannot parse is left to `createPrivateKey` to report.
 */
export function checkEncryptedKeyIterations(bytes: Buffer, label: string): void {
  let iterations: number;
  try {
    const [algorithm] = inside(elements(bytes)[0]);
    const [oid, params] = inside(algorithm);
    if (oid?.tag === 0x06 && oid.body.equals(PBES2)) {
      const [kdf] = inside(params);
      const [kdfOid, kdfParams] = inside(kdf);
      if (!(kdfOid?.tag === 0x06 && kdfOid.body.equals(PBKDF2))) return;
      iterations = integer(inside(kdfParams)[1]);
    } else {
      iterations = integer(inside(params)[1]);
    }
  } catch {
    return;
  }
  checkedIterations(iterations, label);
}
