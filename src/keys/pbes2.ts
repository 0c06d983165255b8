/**
 * PKCS#5 v2.1 password-based encryption (PBES2: PBKDF2-HMAC + AES-CBC) for private keys.
 *
 * Why our own writer: Node's `KeyObject.export({ cipher })` produces the same PBES2 structure but
 * OpenSSL 3.0 fixes its PBKDF2 iteration count at 2048, far below today's advice for a key that
 * protects every archive; node-forge lets us choose the count but runs PBKDF2 in JavaScript (seconds
 * at a strong count). So we assemble the ASN.1 with node-forge and do the crypto with Node's native
 * `pbkdf2` and AES. The result is a standard `ENCRYPTED PRIVATE KEY` that OpenSSL, Node, Java and
 * .NET read (`openssl pkey -in key.pem -passin env:VAR`).
 *
 * Choice: PBKDF2-HMAC-SHA256 with 600,000 iterations (OWASP Password Storage Cheat Sheet, 2023) and a
 * 16-byte random salt; AES-256-CBC with a random IV. scrypt would resist GPUs better and OpenSSL can
 * read it in PKCS#8, but Java, .NET and node-forge cannot; PBKDF2 keeps the key file portable.
 */
import { createCipheriv, createDecipheriv, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { children, der, encodeDer, integerOf, octetsOf, oidOf, type Asn1 } from './asn1.js';

const pbkdf2Async = promisify(pbkdf2);

/** PBKDF2 iterations for the keys this toolkit writes. */
export const KDF_ITERATIONS = 600_000;

export { MAX_KDF_ITERATIONS, checkedIterations } from './kdf-limit.js';
import { checkedIterations } from './kdf-limit.js';

/** A one-line description of how written keys are protected, for messages and docs. */
export const KEY_PROTECTION = `AES-256-CBC, PBKDF2-HMAC-SHA256 with ${KDF_ITERATIONS.toLocaleString('en-US')} iterations`;

export const oids = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSHA1: '1.2.840.113549.2.7',
  hmacWithSHA224: '1.2.840.113549.2.8',
  hmacWithSHA256: '1.2.840.113549.2.9',
  hmacWithSHA384: '1.2.840.113549.2.10',
  hmacWithSHA512: '1.2.840.113549.2.11',
  aes128Cbc: '2.16.840.1.101.3.4.1.2',
  aes192Cbc: '2.16.840.1.101.3.4.1.22',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  desEde3Cbc: '1.2.840.113549.3.7',
} as const;

const prfHashes: Record<string, string> = {
  [oids.hmacWithSHA1]: 'sha1',
  [oids.hmacWithSHA224]: 'sha224',
  [oids.hmacWithSHA256]: 'sha256',
  [oids.hmacWithSHA384]: 'sha384',
  [oids.hmacWithSHA512]: 'sha512',
};

const ciphers: Record<string, { name: string; keyLength: number }> = {
  [oids.aes128Cbc]: { name: 'aes-128-cbc', keyLength: 16 },
  [oids.aes192Cbc]: { name: 'aes-192-cbc', keyLength: 24 },
  [oids.aes256Cbc]: { name: 'aes-256-cbc', keyLength: 32 },
  [oids.desEde3Cbc]: { name: 'des-ede3-cbc', keyLength: 24 },
};

/**
 * Encrypts data with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and returns the AlgorithmIdentifier and
 * the ciphertext. The passphrase is used as its UTF-8 bytes, as OpenSSL does.
 */
export async function pbes2Encrypt(
  plaintext: Uint8Array,
  passphrase: string,
  iterations = KDF_ITERATIONS,
): Promise<{ algorithm: Asn1; ciphertext: Buffer }> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = await pbkdf2Async(Buffer.from(passphrase, 'utf8'), salt, iterations, 32, 'sha256');
  try {
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const algorithm = der.sequence([
      der.oid(oids.pbes2),
      der.sequence([
        der.sequence([
          der.oid(oids.pbkdf2),
          der.sequence([der.octets(salt), der.integer(iterations), der.sequence([der.oid(oids.hmacWithSHA256), der.null()])]),
        ]),
        der.sequence([der.oid(oids.aes256Cbc), der.octets(iv)]),
      ]),
    ]);
    return { algorithm, ciphertext };
  } finally {
    key.fill(0);
  }
}

/**
 * Decrypts PBES2 data given its AlgorithmIdentifier (any PBKDF2 PRF from SHA-1 to SHA-512; AES-CBC or
 * 3DES). Throws a plain Error on unsupported parameters or a wrong passphrase (bad padding).
 */
export async function pbes2Decrypt(algorithm: Asn1, ciphertext: Uint8Array, passphrase: string): Promise<Buffer> {
  const [algorithmOid, params] = children(algorithm);
  if (oidOf(algorithmOid) !== oids.pbes2) throw new Error('not PBES2');
  const [kdf, scheme] = children(params);
  const [kdfOid, kdfParams] = children(kdf);
  if (oidOf(kdfOid) !== oids.pbkdf2) throw new Error('unsupported key derivation (PBKDF2 expected)');
  const [saltNode, iterationsNode, ...rest] = children(kdfParams);
  const salt = octetsOf(saltNode);
  const iterations = checkedIterations(integerOf(iterationsNode), 'the key file');
  // Optional keyLength INTEGER, then optional prf AlgorithmIdentifier (default hmacWithSHA1).
  const prfNode = rest.find((node) => node.type === forge.asn1.Type.SEQUENCE);
  const hash = prfNode ? prfHashes[oidOf(children(prfNode)[0])] : 'sha1';
  const [cipherOid, ivNode] = children(scheme);
  const cipher = ciphers[oidOf(cipherOid)];
  if (!hash || !cipher) throw new Error('unsupported PBES2 algorithm');
  const key = await pbkdf2Async(Buffer.from(passphrase, 'utf8'), salt, iterations, cipher.keyLength, hash);
  try {
    const decipher = createDecipheriv(cipher.name, key, octetsOf(ivNode));
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } finally {
    key.fill(0);
  }
}

/**
 * Wraps a DER PKCS#8 PrivateKeyInfo into an EncryptedPrivateKeyInfo (DER).
 *
 * @example
 * ```ts
 * const der = await encryptPrivateKeyInfo(key.export({ type: 'pkcs8', format: 'der' }), passphrase);
 * ```
 */
export async function encryptPrivateKeyInfo(privateKeyInfo: Uint8Array, passphrase: string, iterations = KDF_ITERATIONS): Promise<Buffer> {
  const { algorithm, ciphertext } = await pbes2Encrypt(privateKeyInfo, passphrase, iterations);
  return encodeDer(der.sequence([algorithm, der.octets(ciphertext)]));
}

/** PEM-armours DER bytes with 64-character lines, as OpenSSL writes them. */
export function toPem(label: string, bytes: Uint8Array): string {
  const base64 = Buffer.from(bytes).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
