/**
 * `keys generate --pkcs11`: an RSA key pair made on the token (private key sensitive, never
 * extractable), a self-signed certificate signed on the token with the same profile as file keys
 * (certificate.ts), stored on the token beside the key and written as `<dir>/archive-certificate.pem`.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { openFileSink } from '../engine/output.js';
import { KeyError, OutputError, UsageError } from '../errors.js';
import { DEFAULT_DAYS, DEFAULT_SUBJECT, archiveKeyFileNames, assertPathsAbsent } from './archive-keys.js';
import { assertValidityDays, createSelfSignedCertificate } from './certificate.js';
import { certificateFingerprint } from './fingerprint.js';
import { VONAGE_MAX_KEY_BITS } from './generate.js';
import {
  acquireToken,
  assertObjectAbsent,
  ck,
  pkcs11ReturnName,
  tokenKeyHandle,
  type Pkcs11KeyHandle,
  type Pkcs11Options,
  type TokenDescription,
} from './pkcs11.js';
import { parsePkcs11Uri } from './pkcs11-uri.js';
import { keyIdOf } from './recipients.js';
import { parseSubject, type NameAttribute } from './subject.js';

export interface GenerateTokenKeysOptions {
  /** Where to make the key: `pkcs11:token=…;object=<new label>` (optionally `id=`). */
  uri: string;
  /** Folder for archive-certificate.pem; created (mode 0700) if missing. */
  outDir: string;
  days?: number;
  subject?: string | readonly NameAttribute[];
  notBefore?: Date;
  pkcs11: Pkcs11Options;
}

export interface GeneratedTokenKeys {
  /** A URI that selects the new private key: give it to `--key`. */
  keyUri: string;
  token: TokenDescription;
  object: { label: string; id: string };
  bits: number;
  certificatePath: string;
  certificate: X509Certificate;
  certificatePem: string;
  fingerprintSha256: string;
  /** The `certificate` value of Vonage's storage request: base64 of the PEM file. */
  vonageCertificateValue: string;
}

/**
 * Generates an RSA-2048 key pair on a token and its self-signed certificate. Nothing is left on the
 * token or in the folder unless every step worked; nothing is overwritten.
 *
 * @example
 * ```ts
 * const made = await generateTokenKeys({ uri: 'pkcs11:token=archive;object=archive-2026', outDir: 'keys',
 *   pkcs11: { module: '/usr/lib/softhsm/libsofthsm2.so', pin: async () => process.env.TOKEN_PIN! } });
 * console.log(made.keyUri, made.vonageCertificateValue);
 * ```
 * @throws UsageError for a URI without object=, bad days or subject; OutputError when the file or a
 *   token object with that label or id exists; KeyError for token failures (PIN, module, mechanism).
 */
export async function generateTokenKeys(options: GenerateTokenKeysOptions): Promise<GeneratedTokenKeys> {
  const uri = parsePkcs11Uri(options.uri);
  if (uri.object === undefined) throw new UsageError(`${uri.text}: name the new key with object=LABEL`);
  if (uri.type !== undefined && uri.type !== 'private') throw new UsageError(`${uri.text}: leave type= out (a key pair and a certificate are made)`);
  const days = options.days ?? DEFAULT_DAYS;
  assertValidityDays(days);
  const subject = typeof options.subject === 'string' || options.subject === undefined ? parseSubject(options.subject ?? DEFAULT_SUBJECT) : options.subject;
  const certificatePath = join(options.outDir, archiveKeyFileNames.certificate);
  await assertPathsAbsent([certificatePath]);

  const token = await acquireToken(uri, options.pkcs11, true);
  const { api, session } = token;
  const created: Buffer[] = [];
  let handle: Pkcs11KeyHandle | undefined;
  try {
    assertObjectAbsent(token, uri);
    const label = uri.object;
    const provisionalId = uri.id ?? randomBytes(8);
    const common = [
      { type: ck('CKA_TOKEN'), value: true },
      { type: ck('CKA_LABEL'), value: label },
      { type: ck('CKA_ID'), value: provisionalId },
    ];
    let pair: { publicKey: Buffer; privateKey: Buffer };
    try {
      pair = await api.C_GenerateKeyPairAsync(
        session,
        { mechanism: ck('CKM_RSA_PKCS_KEY_PAIR_GEN') },
        [...common, { type: ck('CKA_MODULUS_BITS'), value: VONAGE_MAX_KEY_BITS }, { type: ck('CKA_PUBLIC_EXPONENT'), value: Buffer.from([1, 0, 1]) },
          { type: ck('CKA_ENCRYPT'), value: true }, { type: ck('CKA_VERIFY'), value: true }, { type: ck('CKA_WRAP'), value: false }],
        // Decrypt unwraps archive passwords, sign makes the certificate and CSRs; nothing else.
        [...common, { type: ck('CKA_PRIVATE'), value: true }, { type: ck('CKA_SENSITIVE'), value: true }, { type: ck('CKA_EXTRACTABLE'), value: false },
          { type: ck('CKA_DECRYPT'), value: true }, { type: ck('CKA_SIGN'), value: true }, { type: ck('CKA_UNWRAP'), value: false }, { type: ck('CKA_SIGN_RECOVER'), value: false }, { type: ck('CKA_DERIVE'), value: false }],
      );
    } catch (error) {
      throw new KeyError(`token "${token.description.label}" could not generate an RSA-${VONAGE_MAX_KEY_BITS} key pair: ${pkcs11ReturnName(error) ?? String(error)}`);
    }
    created.push(pair.privateKey, pair.publicKey);
    handle = tokenKeyHandle(token, pair.privateKey, uri);
    token.refs += 1; // The handle holds its own reference; the finally below drops ours.
    // CKA_ID = the sealed format's key id (SHA-256 of the SPKI, 8 bytes; docs/FORMAT.md), so the token
    // and the files name the key alike. A token that forbids changing CKA_ID keeps the random one.
    let id = provisionalId;
    if (uri.id === undefined) {
      const keyId = keyIdOf(handle.publicKey);
      try {
        for (const object of created) api.C_SetAttributeValue(session, object, [{ type: ck('CKA_ID'), value: keyId }]);
        id = keyId;
      } catch {
        for (const object of created) api.C_SetAttributeValue(session, object, [{ type: ck('CKA_ID'), value: provisionalId }]);
      }
    }

    const certificatePem = await createSelfSignedCertificate({
      privateKey: handle,
      publicKey: handle.publicKey,
      subject,
      days,
      ...(options.notBefore ? { notBefore: options.notBefore } : {}),
    });
    const certificate = new X509Certificate(certificatePem);
    try {
      created.push(
        api.C_CreateObject(session, [
          { type: ck('CKA_CLASS'), value: ck('CKO_CERTIFICATE') },
          { type: ck('CKA_CERTIFICATE_TYPE'), value: ck('CKC_X_509') },
          { type: ck('CKA_TOKEN'), value: true },
          { type: ck('CKA_PRIVATE'), value: false },
          { type: ck('CKA_LABEL'), value: label },
          { type: ck('CKA_ID'), value: id },
          { type: ck('CKA_SUBJECT'), value: subjectDer(certificate.raw) },
          { type: ck('CKA_VALUE'), value: certificate.raw },
        ]),
      );
    } catch (error) {
      throw new KeyError(`token "${token.description.label}" could not store the certificate: ${pkcs11ReturnName(error) ?? String(error)}`);
    }

    try {
      await mkdir(options.outDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new OutputError(`cannot create folder ${options.outDir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const sink = await openFileSink(certificatePath, { mode: 0o644 });
    try {
      await sink.write(Buffer.from(certificatePem));
      await sink.commit();
    } catch (error) {
      await sink.abort();
      throw error;
    }
    created.length = 0; // Everything is in place: keep it.
    return {
      keyUri: keyUriFor(token.description, label, id),
      token: token.description,
      object: { label, id: id.toString('hex') },
      bits: handle.bits,
      certificatePath,
      certificate,
      certificatePem,
      fingerprintSha256: certificateFingerprint(certificate),
      vonageCertificateValue: Buffer.from(certificatePem).toString('base64'),
    };
  } finally {
    // A failure after generation takes the new objects back off the token.
    for (const object of created.reverse()) {
      try {
        api.C_DestroyObject(session, object);
      } catch {
        // Already gone, or the token refuses: nothing more can be done here.
      }
    }
    await handle?.close();
    await token.release();
  }
}

/** `pkcs11:token=…;object=…;id=…` with RFC 7512 percent-encoding. */
export function keyUriFor(token: TokenDescription, label: string, id: Buffer): string {
  const encode = (text: string) => Array.from(Buffer.from(text, 'utf8'), (b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
  const idText = Array.from(id, (b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return `pkcs11:token=${encode(token.label)};object=${encode(label)}${id.length > 0 ? `;id=${idText}` : ''};type=private`;
}

/** The subject Name DER of a certificate (CKA_SUBJECT): TBSCertificate's sixth field (RFC 5280 §4.1). */
function subjectDer(certificateDer: Buffer): Buffer {
  const tbs = (forge.asn1.fromDer(certificateDer.toString('binary')).value as forge.asn1.Asn1[])[0]!;
  const fields = tbs.value as forge.asn1.Asn1[];
  // A v3 certificate starts with the explicit [0] version; without it the subject is the fifth field.
  const offset = fields[0]?.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  return Buffer.from(forge.asn1.toDer(fields[4 + offset]!).getBytes(), 'binary');
}
