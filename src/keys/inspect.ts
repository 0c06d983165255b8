/**
 * `keys inspect`: what a key file holds and whether Vonage will accept it. Reads certificates,
 * private keys (encrypted or not), CSRs, public keys and PKCS#12 bundles, in PEM (any number of
 * blocks) or DER.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import forge from 'node-forge';
import { KeyError } from '../errors.js';
import { toBinary } from './asn1.js';
import { VONAGE_MAX_KEY_BITS } from './generate.js';
import { certificateFingerprint, publicKeyFingerprint } from './fingerprint.js';
import { assertPrivateFileMode, parsePrivateKey, resolvePassphrase, type PassphraseSource } from './load.js';
import { looksLikePkcs12, readPkcs12 } from './pkcs12.js';
import type { Pkcs11KeyDescription, Pkcs11KeyHandle, TokenDescription } from './pkcs11.js';

/** Certificates expiring within this many days get a warning. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY = 86_400_000;

export interface KeyDescription {
  /** `rsa`, `ec`, …; `null` when the key is encrypted and no passphrase was given. */
  type: string | null;
  /** Modulus length for RSA; `null` when unknown. */
  bits: number | null;
  /** SHA-256 of the SubjectPublicKeyInfo DER (colon hex); `null` when unknown. */
  publicKeySha256: string | null;
}

export interface VonageVerdict {
  /** `null`: cannot tell (encrypted key without passphrase). */
  accepted: boolean | null;
  reason: string;
}

export interface CertificateReport {
  kind: 'certificate';
  subject: string;
  issuer: string;
  selfSigned: boolean;
  /** Uppercase hex, as `openssl x509 -serial`. */
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  /** Whole days until notAfter (negative when expired). */
  daysLeft: number;
  key: KeyDescription;
  /** SHA-256 of the certificate DER, as `openssl x509 -fingerprint -sha256`. */
  fingerprintSha256: string;
  /**
   * The `"certificate"` value of Vonage's storage request (docs/ARCHITECTURE.md §2.2): base64 of the
   * certificate's PEM text, whatever the file held (PEM, DER, PKCS#12, a token).
   */
  vonageCertificate: string;
  vonage: VonageVerdict;
  warnings: string[];
}

export interface PrivateKeyReport {
  kind: 'private-key';
  /** `pkcs8`, `pkcs1` (`RSA PRIVATE KEY`), `der-pkcs8`, `pkcs12`, or `pkcs11` for a key on a token. */
  encoding: 'pkcs8' | 'pkcs1' | 'der-pkcs8' | 'pkcs12' | 'pkcs11';
  encrypted: boolean;
  /** For a key on a PKCS#11 token: where it is and how the token protects it. */
  token?: TokenKeyFacts;
  key: KeyDescription;
  vonage: VonageVerdict;
  warnings: string[];
}

export interface CsrReport {
  kind: 'csr';
  subject: string;
  signatureValid: boolean;
  key: KeyDescription;
  vonage: VonageVerdict;
  warnings: string[];
}

export interface PublicKeyReport {
  kind: 'public-key';
  key: KeyDescription;
  vonage: VonageVerdict;
  warnings: string[];
}

export type InspectedItem = CertificateReport | PrivateKeyReport | CsrReport | PublicKeyReport;

/** What the token says about a key it holds (null: the token does not tell), and where it is. */
export type TokenKeyFacts = Omit<Pkcs11KeyDescription, 'certificate'> & {
  token: TokenDescription;
  object: { label: string; id: string };
};

export interface KeyFileReport {
  /** The path, or the `pkcs11:` URI for a key on a token. */
  file: string;
  container: 'pem' | 'der' | 'pkcs12' | 'pkcs11';
  items: InspectedItem[];
  /** About the file itself (permissions, ignored PEM blocks). */
  warnings: string[];
}

export interface InspectOptions {
  /** Used only for encrypted keys and PKCS#12; without it, encrypted keys are reported as such. */
  passphrase?: PassphraseSource;
  /** The time validity is judged against; defaults to now. */
  now?: Date;
}

/**
 * Describes every certificate, key and CSR in a file.
 *
 * @example
 * ```ts
 * const report = await inspectKeyFile('keys/archive-certificate.pem');
 * for (const item of report.items) console.log(item.kind, item.vonage.accepted, item.warnings);
 * ```
 * @throws KeyError when the file is missing, holds nothing recognisable, is truncated, or a given
 *   passphrase is wrong.
 */
export async function inspectKeyFile(path: string, options: InspectOptions = {}): Promise<KeyFileReport> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyError(code === 'ENOENT' ? `${path} not found` : `cannot read ${path} (${code ?? 'error'})`);
  }
  const now = options.now ?? new Date();
  try {
    const text = bytes.toString('latin1');
    const report: KeyFileReport = text.includes('-----BEGIN')
      ? await inspectPem(path, text, options.passphrase, now)
      : await inspectDer(path, bytes, options.passphrase, now);
    // The rule of every other command (load.ts), not a weaker warning of its own.
    if (report.items.some((item) => item.kind === 'private-key')) await assertPrivateFileMode(path);
    return report;
  } finally {
    bytes.fill(0);
  }
}

/**
 * Describes a key on a PKCS#11 token and the certificate stored beside it, in the same report shape
 * as a file (`container: 'pkcs11'`).
 *
 * @example
 * ```ts
 * const key = await openPkcs11Key('pkcs11:token=archive;object=archive-key', options);
 * const report = await inspectTokenKey(key);
 * ```
 */
export async function inspectTokenKey(key: Pkcs11KeyHandle, now = new Date()): Promise<KeyFileReport> {
  const { certificate, ...facts } = await key.describe();
  const description = describeKey(key.publicKey);
  const warnings = keyWarnings(description);
  if (facts.extractable === true) warnings.push('the key can leave the token (CKA_EXTRACTABLE is true): make archive keys with keys generate --pkcs11, which keeps them on it');
  if (facts.sensitive === false) warnings.push('the key is not sensitive (CKA_SENSITIVE is false): its value can be read off the token');
  if (!facts.uses.includes('decrypt')) warnings.push('the key may not decrypt (CKA_DECRYPT is false): it cannot unwrap archive passwords');
  const report: KeyFileReport = {
    file: key.label,
    container: 'pkcs11',
    items: [{ kind: 'private-key', encoding: 'pkcs11', encrypted: false, token: { token: key.token, object: key.object, ...facts }, key: description, vonage: keyVerdict(description), warnings }],
    warnings: [],
  };
  if (certificate) {
    const item = describeCertificate(new X509Certificate(certificate), now);
    if (!item.key.publicKeySha256 || item.key.publicKeySha256 !== description.publicKeySha256) item.warnings.push('the certificate stored beside the key is for another key');
    report.items.push(item);
  } else {
    report.warnings.push('no certificate is stored beside the key on the token (same CKA_ID)');
  }
  return report;
}

async function inspectPem(path: string, text: string, passphrase: PassphraseSource | undefined, now: Date): Promise<KeyFileReport> {
  const report: KeyFileReport = { file: path, container: 'pem', items: [], warnings: [] };
  const begins = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)];
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)];
  if (blocks.length < begins.length) {
    throw new KeyError(`${path} is truncated: a PEM block (BEGIN ${begins[blocks.length]?.[1] ?? begins[0]?.[1]}) has no END line`);
  }
  for (const [pem, label = ''] of blocks) {
    const where = blocks.length > 1 ? `${path} (${label})` : path;
    try {
      const item = await inspectPemBlock(label, pem, where, passphrase, now);
      if (item) report.items.push(item);
      else report.warnings.push(`ignored a PEM block labelled ${label}`);
    } catch (error) {
      if (error instanceof KeyError) throw error;
      throw new KeyError(`${where} is damaged: its ${label} block cannot be decoded`, { cause: error });
    }
  }
  if (report.items.length === 0) {
    throw new KeyError(`${path} holds no certificate, key or CSR (PEM blocks found: ${begins.map((m) => m[1]).join(', ')})`);
  }
  return report;
}

async function inspectPemBlock(
  label: string,
  pem: string,
  where: string,
  passphrase: PassphraseSource | undefined,
  now: Date,
): Promise<InspectedItem | undefined> {
  switch (label) {
    case 'CERTIFICATE':
    case 'X509 CERTIFICATE':
      return describeCertificate(new X509Certificate(pem), now);
    case 'PRIVATE KEY':
    case 'RSA PRIVATE KEY':
    case 'ENCRYPTED PRIVATE KEY': {
      const encrypted = label === 'ENCRYPTED PRIVATE KEY' || pem.includes('Proc-Type: 4,ENCRYPTED');
      const encoding = label === 'RSA PRIVATE KEY' ? 'pkcs1' : 'pkcs8';
      if (encrypted && passphrase === undefined) {
        // Only the legacy RSA label tells the type without decrypting.
        return describePrivateKey(encoding, true, encoding === 'pkcs1' ? 'rsa' : null);
      }
      const key = await parsePrivateKey(Buffer.from(pem, 'latin1'), where, passphrase);
      return describePrivateKey(encoding, encrypted, key);
    }
    case 'CERTIFICATE REQUEST':
    case 'NEW CERTIFICATE REQUEST':
      return describeCsr(pem, where);
    case 'PUBLIC KEY':
    case 'RSA PUBLIC KEY': {
      const key = describeKey(createPublicKey(pem));
      return { kind: 'public-key', key, vonage: keyVerdict(key), warnings: keyWarnings(key) };
    }
    default:
      return undefined;
  }
}

async function inspectDer(path: string, bytes: Buffer, passphrase: PassphraseSource | undefined, now: Date): Promise<KeyFileReport> {
  const report: KeyFileReport = { file: path, container: 'der', items: [], warnings: [] };
  const attempts: (() => InspectedItem)[] = [
    () => describeCertificate(new X509Certificate(bytes), now),
    () => describePrivateKey('der-pkcs8', false, createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' })),
    () => describeCsr(forge.pki.certificationRequestToPem(forge.pki.certificationRequestFromAsn1(forge.asn1.fromDer(toBinary(bytes)))), path),
  ];
  for (const attempt of attempts) {
    try {
      report.items.push(attempt());
      return report;
    } catch {
      // not this kind; try the next
    }
  }
  if (!looksLikePkcs12(bytes)) {
    throw new KeyError(`${path} is not a certificate, private key, CSR or PKCS#12 bundle (PEM or DER expected)`);
  }
  const contents = await readPkcs12(bytes, path, await resolvePassphrase(passphrase, path));
  report.container = 'pkcs12';
  for (const certificate of contents.certificates) report.items.push(describeCertificate(certificate, now));
  for (const key of contents.privateKeys) report.items.push(describePrivateKey('pkcs12', true, key));
  return report;
}

function describeCertificate(certificate: X509Certificate, now: Date): CertificateReport {
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY);
  const key = describeKey(certificate.publicKey);
  const warnings = keyWarnings(key);
  const validity = certificateValidity(certificate, now);
  if (validity.warning !== undefined) warnings.push(validity.warning);
  const subject = oneLine(certificate.subject);
  const issuer = oneLine(certificate.issuer);
  const keyVerdictNow = keyVerdict(key);
  const vonage: VonageVerdict =
    keyVerdictNow.accepted !== true
      ? keyVerdictNow
      : validity.state === 'expired'
        ? { accepted: false, reason: 'the certificate has expired' }
        : validity.state === 'not-yet-valid'
          ? { accepted: false, reason: 'the certificate is not valid yet' }
          : { accepted: true, reason: `RSA ${key.bits} bits, valid until ${isoSeconds(notAfter)}` };
  return {
    kind: 'certificate',
    subject,
    issuer,
    selfSigned: subject === issuer && certificate.verify(certificate.publicKey),
    serialNumber: certificate.serialNumber.toUpperCase(),
    notBefore: isoSeconds(notBefore),
    notAfter: isoSeconds(notAfter),
    daysLeft,
    key,
    fingerprintSha256: certificateFingerprint(certificate),
    vonageCertificate: Buffer.from(certificate.toString()).toString('base64'),
    vonage,
    warnings,
  };
}

export interface CertificateValidity {
  state: 'valid' | 'expiring' | 'expired' | 'not-yet-valid';
  /** Whole days until notAfter (negative when expired). */
  daysLeft: number;
  /** What to tell the user, when anything: `expired on …`, `not valid before …`, `expires in N days (…)`. */
  warning?: string;
}

/**
 * Where a certificate stands in its validity period at `now`; `expiring` within
 * EXPIRY_WARNING_DAYS. One rule for `keys inspect` and `keys check`.
 */
export function certificateValidity(certificate: X509Certificate, now = new Date()): CertificateValidity {
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY);
  if (now > notAfter) return { state: 'expired', daysLeft, warning: `expired on ${isoSeconds(notAfter)}` };
  if (now < notBefore) return { state: 'not-yet-valid', daysLeft, warning: `not valid before ${isoSeconds(notBefore)}` };
  if (daysLeft < EXPIRY_WARNING_DAYS) return { state: 'expiring', daysLeft, warning: `expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'} (${isoSeconds(notAfter)})` };
  return { state: 'valid', daysLeft };
}

function describePrivateKey(encoding: PrivateKeyReport['encoding'], encrypted: boolean, key: KeyObject | 'rsa' | null): PrivateKeyReport {
  if (key === null || key === 'rsa') {
    return {
      kind: 'private-key',
      encoding,
      encrypted,
      key: { type: key, bits: null, publicKeySha256: null },
      vonage: { accepted: null, reason: 'the key is encrypted: give its passphrase (--passphrase-env VAR) to see its size' },
      warnings: [],
    };
  }
  const description = describeKey(key);
  const warnings = keyWarnings(description);
  if (!encrypted) warnings.push('the private key is not encrypted: protect the file, or re-encrypt it with a passphrase');
  return { kind: 'private-key', encoding, encrypted, key: description, vonage: keyVerdict(description), warnings };
}

function describeCsr(pem: string, where: string): CsrReport {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(pem);
  } catch (error) {
    throw new KeyError(`${where} holds a CSR that cannot be read (only RSA CSRs are supported)`, { cause: error });
  }
  const key = describeKey(createPublicKey(forge.pki.publicKeyToPem(csr.publicKey!)));
  const signatureValid = csr.verify();
  const warnings = keyWarnings(key);
  if (!signatureValid) warnings.push('the CSR signature does not verify: it was altered or made with another key');
  const subject = csr.subject.attributes.map((a) => `${a.shortName ?? a.name ?? a.type}=${String(a.value)}`).join(', ');
  const keyOk = keyVerdict(key).accepted === true;
  return {
    kind: 'csr',
    subject,
    signatureValid,
    key,
    vonage: {
      accepted: false,
      reason: keyOk
        ? 'a CSR cannot be registered: have your CA sign it, then register the certificate (the key size is fine)'
        : `a CSR cannot be registered, and ${keyVerdict(key).reason}`,
    },
    warnings,
  };
}

function describeKey(key: KeyObject): KeyDescription {
  return { type: key.asymmetricKeyType ?? null, bits: key.asymmetricKeyDetails?.modulusLength ?? null, publicKeySha256: publicKeyFingerprint(key) };
}

function keyVerdict(key: KeyDescription): VonageVerdict {
  if (key.type !== 'rsa') return { accepted: false, reason: `Vonage needs an RSA key, this is ${key.type ?? 'unknown'}` };
  if (key.bits === null) return { accepted: null, reason: 'key size unknown' };
  if (key.bits > VONAGE_MAX_KEY_BITS) return { accepted: false, reason: `Vonage accepts RSA keys of ${VONAGE_MAX_KEY_BITS} bits at most, this has ${key.bits}` };
  return { accepted: true, reason: `RSA ${key.bits} bits` };
}

function keyWarnings(key: KeyDescription): string[] {
  return key.type === 'rsa' && key.bits !== null && key.bits < 2048 ? [`RSA ${key.bits} bits is too weak: use 2048`] : [];
}

/** Certificates hold whole seconds: `2026-01-31T12:00:00Z`. */
function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Node prints names one attribute per line; make them one line, `CN=…, O=…`. */
function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
