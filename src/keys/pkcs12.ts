/**
 * PKCS#12 (RFC 7292) bundles: writing one key + certificate, reading keys and certificates back.
 *
 * We assemble the ASN.1 ourselves (with node-forge's codec) and do the crypto with Node, because
 * node-forge's PKCS#12 writer fixes the MAC to HMAC-SHA1 and runs PBKDF2 in JavaScript, which is far
 * too slow at a strong iteration count. What we write follows OpenSSL 3's `pkcs12 -export` profile:
 * the key in a shrouded key bag (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), an HMAC-SHA256 MAC over
 * the contents. Two differences, both deliberate: the iteration count is {@link KDF_ITERATIONS} for
 * the key *and* for the MAC (the MAC key is derived from the same passphrase, so a cheap MAC would
 * be a cheap way to test passphrase guesses), and the certificate bag is not encrypted (it is public).
 */
import { X509Certificate, createHash, createHmac, createPrivateKey, hash, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { KeyError } from '../errors.js';
import { children, decodeDer, der, encodeDer, integerOf, octetsOf, oidOf, type Asn1 } from './asn1.js';
import { KDF_ITERATIONS, checkedIterations, encryptPrivateKeyInfo, oids as pbeOids, pbes2Decrypt } from './pbes2.js';

const oids = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;

const macHashes: Record<string, { name: string; blockSize: number }> = {
  [oids.sha1]: { name: 'sha1', blockSize: 64 },
  [oids.sha224]: { name: 'sha224', blockSize: 64 },
  [oids.sha256]: { name: 'sha256', blockSize: 64 },
  [oids.sha384]: { name: 'sha384', blockSize: 128 },
  [oids.sha512]: { name: 'sha512', blockSize: 128 },
};

export interface Pkcs12Options {
  privateKey: KeyObject;
  /** DER of the certificate that goes with the key. */
  certificate: Uint8Array;
  passphrase: string;
  /** Shown by importers (Windows, Java keytool). */
  friendlyName?: string;
  /** For tests only: lower than the default makes a weak bundle. */
  iterations?: number;
}

/**
 * Builds a PKCS#12 bundle holding one private key and its certificate, readable by
 * `openssl pkcs12 -info` (OpenSSL 1.1 and 3.x), Java keytool and Windows.
 *
 * @example
 * ```ts
 * const p12 = await createPkcs12({ privateKey, certificate: cert.raw, passphrase });
 * ```
 */
export async function createPkcs12(options: Pkcs12Options): Promise<Buffer> {
  const iterations = options.iterations ?? KDF_ITERATIONS;
  // The local key id pairs key and certificate; OpenSSL uses the certificate's SHA-1 digest too.
  // It is an identifier, not a security function.
  const attributes = der.set([
    der.sequence([der.oid(oids.localKeyId), der.set([der.octets(createHash('sha1').update(options.certificate).digest())])]),
    ...(options.friendlyName ? [der.sequence([der.oid(oids.friendlyName), der.set([der.bmpString(options.friendlyName)])])] : []),
  ]);
  const certBag = der.sequence([
    der.oid(oids.certBag),
    der.explicit(0, der.sequence([der.oid(oids.x509Certificate), der.explicit(0, der.octets(options.certificate))])),
    attributes,
  ]);
  const privateKeyInfo = options.privateKey.export({ type: 'pkcs8', format: 'der' });
  let shrouded: Buffer;
  try {
    shrouded = await encryptPrivateKeyInfo(privateKeyInfo, options.passphrase, iterations);
  } finally {
    privateKeyInfo.fill(0);
  }
  const keyBag = der.sequence([der.oid(oids.pkcs8ShroudedKeyBag), der.explicit(0, decodeDer(shrouded)), attributes]);
  const dataContent = (bags: Asn1[]) => der.sequence([der.oid(oids.data), der.explicit(0, der.octets(encodeDer(der.sequence(bags))))]);
  const authenticatedSafe = encodeDer(der.sequence([dataContent([certBag]), dataContent([keyBag])]));

  const macSalt = randomBytes(16);
  const macKey = pkcs12Kdf(options.passphrase, macSalt, 3, iterations, 32, 'sha256', 64);
  const mac = createHmac('sha256', macKey).update(authenticatedSafe).digest();
  macKey.fill(0);
  return encodeDer(
    der.sequence([
      der.integer(3),
      der.sequence([der.oid(oids.data), der.explicit(0, der.octets(authenticatedSafe))]),
      der.sequence([der.sequence([der.sequence([der.oid(oids.sha256), der.null()]), der.octets(mac)]), der.octets(macSalt), der.integer(iterations)]),
    ]),
  );
}

export interface Pkcs12Contents {
  privateKeys: KeyObject[];
  certificates: X509Certificate[];
}

/** Whether the bytes have the outer shape of a PKCS#12 PFX (no passphrase needed). */
export function looksLikePkcs12(bytes: Uint8Array): boolean {
  try {
    const [version, authSafe] = children(decodeDer(bytes));
    return integerOf(version) === 3 && oidOf(children(authSafe)[0]).startsWith('1.2.840.113549.1.7.');
  } catch {
    return false;
  }
}

/**
 * Opens a PKCS#12 bundle: checks its MAC and returns its private keys and certificates.
 * @throws KeyError for a wrong passphrase or a damaged or unsupported file. `label` names the file.
 */
export async function readPkcs12(bytes: Uint8Array, label: string, passphrase: string): Promise<Pkcs12Contents> {
  let pfx: Asn1;
  try {
    pfx = decodeDer(bytes);
  } catch (error) {
    throw new KeyError(`${label} is not a PKCS#12 file (damaged or truncated)`, { cause: error });
  }
  let authenticatedSafe: Buffer;
  try {
    const [, authSafe, macData] = children(pfx);
    const [contentType, content] = children(authSafe);
    if (oidOf(contentType) !== oids.data) {
      throw new KeyError(`${label} uses PKCS#12 public-key integrity mode, which is not supported; export it with a password`);
    }
    authenticatedSafe = octetsOf(children(content)[0]);
    if (macData) verifyMac(macData, authenticatedSafe, label, passphrase);
  } catch (error) {
    // A damaged inner structure is a key problem (exit 3), not a crash.
    if (error instanceof KeyError) throw error;
    throw new KeyError(`${label} is not a usable PKCS#12 file (damaged or truncated)`, { cause: error });
  }

  const result: Pkcs12Contents = { privateKeys: [], certificates: [] };
  try {
    for (const info of children(decodeDer(authenticatedSafe))) {
      const [type, value] = children(info);
      const typeOid = oidOf(type);
      if (typeOid === oids.data) {
        await collectBags(decodeDer(octetsOf(children(value)[0])), passphrase, result);
      } else if (typeOid === oids.encryptedData) {
        const [, encryptedContentInfo] = children(children(value)[0]);
        const [, algorithm, encrypted] = children(encryptedContentInfo);
        if (oidOf(children(algorithm)[0]) !== pbeOids.pbes2) return legacyPkcs12(bytes, label, passphrase);
        await collectBags(decodeDer(await pbes2Decrypt(algorithm!, octetsOf(encrypted), passphrase)), passphrase, result);
      }
    }
  } catch (error) {
    if (error instanceof KeyError) throw error;
    // Without a MAC a wrong passphrase only shows here, as bad padding or garbage.
    throw new KeyError(`cannot open ${label}: wrong passphrase or damaged PKCS#12 file`, { cause: error });
  }
  return result;
}

/** Extracts the (first) private key of a PKCS#12 bundle. */
export async function privateKeyFromPkcs12(bytes: Uint8Array, label: string, passphrase: string): Promise<KeyObject> {
  const { privateKeys } = await readPkcs12(bytes, label, passphrase);
  const key = privateKeys[0];
  if (!key) throw new KeyError(`${label} is a PKCS#12 bundle without a private key`);
  return key;
}

function verifyMac(macData: Asn1, authenticatedSafe: Buffer, label: string, passphrase: string): void {
  const [digestInfo, saltNode, iterationsNode] = children(macData);
  const [algorithm, digestNode] = children(digestInfo);
  const hashOid = oidOf(children(algorithm)[0]);
  const macHash = macHashes[hashOid];
  if (!macHash) throw new KeyError(`${label} uses an unsupported PKCS#12 MAC algorithm (${hashOid})`);
  const expected = octetsOf(digestNode);
  const iterations = checkedIterations(iterationsNode ? integerOf(iterationsNode) : 1, label);
  const key = pkcs12Kdf(passphrase, octetsOf(saltNode), 3, iterations, expected.length, macHash.name, macHash.blockSize);
  const actual = createHmac(macHash.name, key).update(authenticatedSafe).digest();
  key.fill(0);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new KeyError(`wrong passphrase for ${label} (or the PKCS#12 file is damaged)`);
  }
}

async function collectBags(safeContents: Asn1, passphrase: string, into: Pkcs12Contents): Promise<void> {
  for (const bag of children(safeContents)) {
    const [bagId, wrapped] = children(bag);
    const value = children(wrapped)[0];
    if (!value) continue;
    switch (oidOf(bagId)) {
      case oids.keyBag:
        into.privateKeys.push(createPrivateKey({ key: encodeDer(value), format: 'der', type: 'pkcs8' }));
        break;
      case oids.pkcs8ShroudedKeyBag:
        // OpenSSL decrypts both PBES2 and the older PKCS#12 PBE schemes natively.
        into.privateKeys.push(createPrivateKey({ key: encodeDer(value), format: 'der', type: 'pkcs8', passphrase }));
        break;
      case oids.certBag: {
        const [certType, certValue] = children(value);
        if (oidOf(certType) === oids.x509Certificate) into.certificates.push(new X509Certificate(octetsOf(children(certValue)[0])));
        break;
      }
      case oids.safeContentsBag:
        await collectBags(value, passphrase, into);
        break;
      default:
        break;
    }
  }
}

/**
 * Old bundles (OpenSSL 1.x defaults, `-legacy`) encrypt their certificates with RC2 or 3DES under the
 * PKCS#12 key derivation, which OpenSSL 3 only offers in its legacy provider; node-forge implements
 * them, and their iteration counts are low enough for its JavaScript.
 */
function legacyPkcs12(bytes: Uint8Array, label: string, passphrase: string): Pkcs12Contents {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(decodeDer(bytes), passphrase);
  } catch (error) {
    throw new KeyError(`cannot open ${label}: wrong passphrase or damaged PKCS#12 file`, { cause: error });
  }
  const bagsOf = (type: string) => p12.getBags({ bagType: type })[type] ?? [];
  const keys = [...bagsOf(forge.pki.oids.pkcs8ShroudedKeyBag as string), ...bagsOf(forge.pki.oids.keyBag as string)];
  return {
    privateKeys: keys.flatMap((bag) => (bag.key ? [createPrivateKey(forge.pki.privateKeyToPem(bag.key))] : [])),
    certificates: bagsOf(forge.pki.oids.certBag as string).flatMap((bag) =>
      bag.cert ? [new X509Certificate(forge.pki.certificateToPem(bag.cert))] : [],
    ),
  };
}

/**
 * The PKCS#12 key derivation (RFC 7292, appendix B.2). `id` 1 = key, 2 = IV, 3 = MAC key. The
 * passphrase enters as a NUL-terminated big-endian UTF-16 string. Node has no native PKCS12KDF, so
 * the iteration loop calls the native hash once per round.
 */
export function pkcs12Kdf(
  passphrase: string,
  salt: Uint8Array,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
  hashName: string,
  blockSize: number,
): Buffer {
  const password = Buffer.alloc(passphrase.length * 2 + 2);
  for (let i = 0; i < passphrase.length; i++) password.writeUInt16BE(passphrase.charCodeAt(i), i * 2);
  const fill = (source: Uint8Array) => {
    const out = Buffer.alloc(source.length === 0 ? 0 : blockSize * Math.ceil(source.length / blockSize));
    for (let i = 0; i < out.length; i++) out[i] = source[i % source.length]!;
    return out;
  };
  const input = Buffer.concat([fill(salt), fill(password)]);
  password.fill(0);
  const diversifier = Buffer.alloc(blockSize, id);
  const output: Buffer[] = [];
  let produced = 0;
  while (produced < length) {
    let block = hash(hashName, Buffer.concat([diversifier, input]), 'buffer');
    for (let round = 1; round < iterations; round++) block = hash(hashName, block, 'buffer');
    output.push(block);
    produced += block.length;
    if (produced >= length) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block of I, with B = block repeated to v bytes.
    const b = fill(block);
    for (let offset = 0; offset < input.length; offset += blockSize) {
      let carry = 1;
      for (let k = blockSize - 1; k >= 0; k--) {
        const sum = input[offset + k]! + b[k]! + carry;
        input[offset + k] = sum & 0xff;
        carry = sum >>> 8;
      }
    }
  }
  input.fill(0);
  return Buffer.concat(output).subarray(0, length);
}
