/**
 * Loading keys and certificates from files, shared by every command.
 *
 * Private keys: PEM PKCS#8 (encrypted or not), PEM PKCS#1 `RSA PRIVATE KEY` (including legacy
 * `Proc-Type: 4,ENCRYPTED`), DER PKCS#8 and PKCS#12. A private key file readable by group or others is
 * refused, as ssh does. The passphrase is asked for lazily, only when the key is encrypted.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { KeyError } from '../errors.js';

/** Returns the passphrase; called at most when an encrypted key needs it. */
export type PassphraseSource = string | (() => Promise<string>);

export interface LoadedPrivateKey {
  /** Where it came from, for messages. */
  path: string;
  key: KeyObject;
}

/**
 * Loads an RSA private key.
 *
 * @example
 * ```ts
 * const { key } = await loadPrivateKey('keys/archive-private-key.pem', async () => process.env.PASS!);
 * ```
 * @throws KeyError when the file is unsafe (group/world readable), unreadable, not a key, not RSA, or
 *   the passphrase is wrong or missing.
 */
export async function loadPrivateKey(path: string, passphrase?: PassphraseSource): Promise<LoadedPrivateKey> {
  await assertPrivateFileMode(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new KeyError(`cannot read private key ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const key = await parsePrivateKey(bytes, path, passphrase);
    if (key.asymmetricKeyType !== 'rsa') {
      throw new KeyError(`${path} holds a ${key.asymmetricKeyType ?? 'non-RSA'} key; Vonage archives need an RSA key`);
    }
    return { path, key };
  } finally {
    bytes.fill(0);
  }
}

/** Decodes private key bytes (PEM, DER PKCS#8 or PKCS#12). `label` names the file in messages. */
export async function parsePrivateKey(bytes: Buffer, label: string, passphrase?: PassphraseSource): Promise<KeyObject> {
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN')) {
    const pemLabel = /-----BEGIN ((?:ENCRYPTED |RSA )?PRIVATE KEY)-----/.exec(text)?.[1];
    if (pemLabel === undefined) {
      throw new KeyError(`${label} holds no private key (PEM blocks found: ${pemLabels(text).join(', ') || 'none'})`);
    }
    if (!text.includes(`-----END ${pemLabel}-----`)) {
      throw new KeyError(`${label} is truncated: its ${pemLabel} PEM block has no END line`);
    }
    const encrypted = pemLabel === 'ENCRYPTED PRIVATE KEY' || text.includes('Proc-Type: 4,ENCRYPTED');
    if (pemLabel === 'ENCRYPTED PRIVATE KEY') {
      const body = /-{5}BEGIN ENCRYPTED PRIVATE KEY-{5}([A-Za-z0-9+/=\s]*)-{5}END ENCRYPTED PRIVATE KEY-{5}/.exec(text)?.[1];
      const { checkEncryptedKeyIterations } = await import('./kdf-limit.js');
      if (body !== undefined) checkEncryptedKeyIterations(Buffer.from(body, 'base64'), label);
    }
    return decodeKey(label, encrypted, passphrase, (pass) =>
      createPrivateKey({ key: bytes, format: 'pem', ...(pass !== undefined ? { passphrase: pass } : {}) }),
    );
  }
  // Binary: DER PKCS#8, or a PKCS#12 bundle.
  try {
    return createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
  } catch {
    // not plain PKCS#8 DER; try PKCS#12 below
  }
  const { looksLikePkcs12, privateKeyFromPkcs12 } = await import('./pkcs12.js');
  if (!looksLikePkcs12(bytes)) {
    throw new KeyError(`${label} is not a private key (PEM, DER PKCS#8 or PKCS#12 expected)`);
  }
  return privateKeyFromPkcs12(bytes, label, await resolvePassphrase(passphrase, label));
}

async function decodeKey(
  label: string,
  encrypted: boolean,
  passphrase: PassphraseSource | undefined,
  decode: (passphrase: string | undefined) => KeyObject,
): Promise<KeyObject> {
  const pass = encrypted ? await resolvePassphrase(passphrase, label) : undefined;
  try {
    return decode(pass);
  } catch (error) {
    if (encrypted) throw new KeyError(`wrong passphrase for ${label} (or the key file is damaged)`, { cause: error });
    throw new KeyError(`${label} is not a usable private key: damaged or truncated PEM`, { cause: error });
  }
}

export async function resolvePassphrase(passphrase: PassphraseSource | undefined, label: string): Promise<string> {
  if (passphrase === undefined) {
    throw new KeyError(`${label} is encrypted: give its passphrase with --passphrase-env VAR or --passphrase-file FILE`);
  }
  return typeof passphrase === 'string' ? passphrase : passphrase();
}

/** Refuses private key files that group or others can read or write (like ssh). */
export async function assertPrivateFileMode(path: string): Promise<void> {
  let info: { mode: number; uid: number };
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyError(code === 'ENOENT' ? `private key ${path} not found` : `cannot read private key ${path} (${code ?? 'error'})`);
  }
  const loose = looseKeyFileMode(info.mode);
  if (loose !== undefined) throw new KeyError(`private key ${path} is accessible by group or others (mode ${loose}): run chmod 600 ${path}`);
  const owner = foreignOwner(info.uid);
  if (owner !== undefined) throw new KeyError(`private key ${path} belongs to another user (uid ${owner}): use your own copy (chown it or copy it with mode 0600)`);
}

/** The uid of a file owner other than us or root (refused for private keys and passphrase files, like ssh), else undefined. */
export function foreignOwner(uid: number): number | undefined {
  const own = process.getuid?.();
  return own !== undefined && uid !== own && uid !== 0 ? uid : undefined;
}

/** The octal mode of a private key file that group or others can access (refused, like ssh does), else undefined. */
export function looseKeyFileMode(mode: number): string | undefined {
  return process.platform !== 'win32' && (mode & 0o077) !== 0 ? (mode & 0o777).toString(8) : undefined;
}

export interface LoadedCertificate {
  path: string;
  certificate: X509Certificate;
  publicKey: KeyObject;
  /** The PEM text exactly as in the file. */
  pem: string;
}

/**
 * Loads an X.509 certificate (PEM or DER). Only the first certificate of a PEM bundle is used.
 * @throws KeyError when the file is missing or holds no certificate.
 */
export async function loadCertificate(path: string): Promise<LoadedCertificate> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyError(code === 'ENOENT' ? `certificate ${path} not found` : `cannot read certificate ${path} (${code ?? 'error'})`);
  }
  const text = bytes.toString('latin1');
  const pemBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  try {
    const certificate = new X509Certificate(pemBlock ?? bytes);
    const publicKey = createPublicKey(certificate.publicKey.export({ format: 'pem', type: 'spki' }));
    if (publicKey.asymmetricKeyType !== 'rsa') {
      throw new KeyError(`${path} certifies a ${publicKey.asymmetricKeyType ?? 'non-RSA'} key; Vonage archives need RSA`);
    }
    return { path, certificate, publicKey, pem: pemBlock ?? certificate.toString() };
  } catch (error) {
    if (error instanceof KeyError) throw error;
    throw new KeyError(`${path} is not an X.509 certificate (PEM or DER expected)`, { cause: error });
  }
}

function pemLabels(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1] ?? '');
}
