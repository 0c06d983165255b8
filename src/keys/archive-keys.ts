/**
 * The security officer's one-step setup: a key pair and self-signed certificate for Vonage archive
 * encryption, written into a folder without ever overwriting anything.
 */
import { X509Certificate } from 'node:crypto';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { openFileSink, type OutputSink } from '../engine/output.js';
import { OutputError, UsageError } from '../errors.js';
import { assertValidityDays, createSelfSignedCertificate } from './certificate.js';
import { certificateFingerprint } from './fingerprint.js';
import { VONAGE_MAX_KEY_BITS, generateRsaKeyPair, privateKeyToPem } from './generate.js';
import { createPkcs12 } from './pkcs12.js';
import { parseSubject, type NameAttribute } from './subject.js';

export const DEFAULT_SUBJECT = 'CN=Vonage archive encryption';
export const DEFAULT_DAYS = 365;

/** The file names `keys generate` writes inside its folder. */
export const archiveKeyFileNames = {
  privateKey: 'archive-private-key.pem',
  certificate: 'archive-certificate.pem',
  pkcs12: 'archive-key.p12',
} as const;

export interface GenerateArchiveKeysOptions {
  /** Folder to write into; created (mode 0700) if missing. */
  outDir: string;
  /** RSA modulus length; default 2048, the most Vonage accepts. */
  bits?: number;
  /** Certificate validity in days; default 365. */
  days?: number;
  /** `CN=…,O=…` or parsed attributes; default `CN=Vonage archive encryption`. */
  subject?: string | readonly NameAttribute[];
  /** Encrypts the private key (and the .p12); `null` writes an unencrypted key. */
  passphrase: string | null;
  /** Also write `archive-key.p12` (needs a passphrase). */
  pkcs12?: boolean;
  /** Start of validity; default now. */
  notBefore?: Date;
}

export interface GeneratedArchiveKeys {
  privateKeyPath: string;
  certificatePath: string;
  pkcs12Path?: string;
  bits: number;
  encrypted: boolean;
  certificate: X509Certificate;
  certificatePem: string;
  /** SHA-256 of the certificate DER, colon hex as OpenSSL prints it. */
  fingerprintSha256: string;
  /** The `certificate` value of Vonage's `PUT /v2/project/<apiKey>/archive/storage` body: base64 of the PEM file. */
  vonageCertificateValue: string;
}

/** The paths `generateArchiveKeys` will write, to check or show them beforehand. */
export function archiveKeyPaths(outDir: string, pkcs12 = false): string[] {
  const names = [archiveKeyFileNames.privateKey, archiveKeyFileNames.certificate, ...(pkcs12 ? [archiveKeyFileNames.pkcs12] : [])];
  return names.map((name) => join(outDir, name));
}

/**
 * Refuses (OutputError, exit 6) if any of the paths exists, naming all that do.
 */
export async function assertPathsAbsent(paths: readonly string[]): Promise<void> {
  const existing: string[] = [];
  for (const path of paths) {
    try {
      await lstat(path);
      existing.push(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new OutputError(`cannot check ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    }
  }
  if (existing.length > 0) {
    throw new OutputError(`${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}; nothing was written (choose another --out folder)`);
  }
}

/**
 * Generates an RSA key pair and a self-signed certificate for Vonage archive encryption and writes
 * them to `outDir`: the private key as encrypted PKCS#8 PEM (mode 0600), the certificate as PEM, and
 * optionally a PKCS#12 bundle. Nothing is written unless every file can be; nothing is overwritten.
 *
 * @example
 * ```ts
 * const result = await generateArchiveKeys({ outDir: 'keys', passphrase: process.env.ARCHIVE_KEY_PASSPHRASE! });
 * console.log(result.fingerprintSha256, result.vonageCertificateValue);
 * ```
 * @throws UsageError for bad bits, days or subject; OutputError if a file exists or cannot be written.
 */
export async function generateArchiveKeys(options: GenerateArchiveKeysOptions): Promise<GeneratedArchiveKeys> {
  const bits = options.bits ?? VONAGE_MAX_KEY_BITS;
  const subject = typeof options.subject === 'string' || options.subject === undefined ? parseSubject(options.subject ?? DEFAULT_SUBJECT) : options.subject;
  if (options.pkcs12 && options.passphrase === null) {
    throw new UsageError('a PKCS#12 bundle needs a passphrase: drop --no-passphrase or --pkcs12');
  }
  assertValidityDays(options.days ?? DEFAULT_DAYS);
  const paths = archiveKeyPaths(options.outDir, options.pkcs12);
  const [privateKeyPath, certificatePath, pkcs12Path] = paths;
  await assertPathsAbsent(paths);

  const { privateKey, publicKey } = await generateRsaKeyPair(bits);
  const certificatePem = await createSelfSignedCertificate({
    privateKey,
    publicKey,
    subject,
    days: options.days ?? DEFAULT_DAYS,
    ...(options.notBefore ? { notBefore: options.notBefore } : {}),
  });
  const certificate = new X509Certificate(certificatePem);
  const files: { path: string; content: Buffer; mode: number }[] = [
    { path: privateKeyPath!, content: Buffer.from(await privateKeyToPem(privateKey, options.passphrase)), mode: 0o600 },
    { path: certificatePath!, content: Buffer.from(certificatePem), mode: 0o644 },
  ];
  if (pkcs12Path && options.passphrase !== null) {
    const friendlyName = subject.find((a) => a.shortName === 'CN')?.value ?? 'archive key';
    files.push({ path: pkcs12Path, content: await createPkcs12({ privateKey, certificate: certificate.raw, passphrase: options.passphrase, friendlyName }), mode: 0o600 });
  }
  try {
    await mkdir(options.outDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new OutputError(`cannot create folder ${options.outDir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    await writeAllOrNothing(files);
  } finally {
    for (const file of files) file.content.fill(0);
  }
  return {
    privateKeyPath: privateKeyPath!,
    certificatePath: certificatePath!,
    ...(pkcs12Path ? { pkcs12Path } : {}),
    bits,
    encrypted: options.passphrase !== null,
    certificate,
    certificatePem,
    fingerprintSha256: certificateFingerprint(certificate),
    vonageCertificateValue: Buffer.from(certificatePem).toString('base64'),
  };
}

/** Writes every file through a temporary name and links them into place only when all are written. */
async function writeAllOrNothing(files: { path: string; content: Buffer; mode: number }[]): Promise<void> {
  const sinks: OutputSink[] = [];
  const committed: string[] = [];
  try {
    for (const file of files) {
      const sink = await openFileSink(file.path, { mode: file.mode });
      sinks.push(sink);
      await sink.write(file.content);
    }
    for (const [index, sink] of sinks.entries()) {
      await sink.commit();
      committed.push(files[index]!.path);
    }
  } catch (error) {
    await Promise.all(sinks.map((sink) => sink.abort()));
    // A file that appeared meanwhile stops us half-way: take back what we already placed.
    await Promise.all(committed.map((path) => unlink(path).catch(() => undefined)));
    throw error;
  }
}
