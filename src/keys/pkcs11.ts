/**
 * Keys on PKCS#11 tokens (HSMs, smart cards, SoftHSM2): the private key never leaves the token; RSA-OAEP
 * unwrapping and signing run on it. The binding (`pkcs11js`) is an optional native dependency, loaded
 * only when a `pkcs11:` key is used, so an install where it did not build still runs everything else.
 *
 * One session per token per process, opened on first use and shared by every handle on that token
 * (concurrent archives of a batch, several keys of a keyring); operations on it are serialised
 * because a PKCS#11 session runs one operation at a time (PKCS#11 v2.40 §5.1). docs/HSM.md has the
 * user's view: URIs, where the module and the PIN come from, which format needs which mechanism.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { KeyError, OutputError, UsageError } from '../errors.js';
import type { OaepHash, PrivateKeyHandle } from './keyring.js';
import { parsePkcs11Uri, type Pkcs11Uri } from './pkcs11-uri.js';

/** The environment variable naming the PKCS#11 module when neither the URI nor `--pkcs11-module` does. */
export const PKCS11_MODULE_ENV = 'ARCHIVE_CRYPT_PKCS11_MODULE';

export interface Pkcs11Options {
  /** The module (.so) from `--pkcs11-module`; the URI's `module-path` wins over it, the environment variable loses. */
  module?: string;
  /** Where `ARCHIVE_CRYPT_PKCS11_MODULE` is read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * Supplies the user PIN when the URI has no `pin-source`. Called at most once per token and only
   * when the token needs a login without a PIN pad; `token` is the token's label, for the prompt.
   */
  pin?: (token: string) => Promise<string>;
}

/** Which token a key is on; none of it is secret. */
export interface TokenDescription {
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  module: string;
}

/** A private key on a token: a keyring entry that can also sign (certificates, CSRs) on the token. */
export interface Pkcs11KeyHandle extends PrivateKeyHandle {
  readonly kind: 'pkcs11';
  readonly token: TokenDescription;
  /** CKA_LABEL and CKA_ID (hex) of the private key object. */
  readonly object: { label: string; id: string };
  /** SHA-256 with RSA PKCS#1 v1.5 over `data`, computed on the token (CKM_SHA256_RSA_PKCS). */
  sign(data: Uint8Array): Promise<Buffer>;
  /** The key's protection and permitted uses as the token reports them, and the certificate stored beside it. */
  describe(): Promise<Pkcs11KeyDescription>;
}

/** What `keys inspect pkcs11:…` shows. A flag is null when the token does not tell. */
export interface Pkcs11KeyDescription {
  /** CKA_SENSITIVE: the key's value cannot be read off the token in plaintext. */
  sensitive: boolean | null;
  /** CKA_EXTRACTABLE: the key can be exported, wrapped under another key. */
  extractable: boolean | null;
  alwaysSensitive: boolean | null;
  neverExtractable: boolean | null;
  /** CKA_LOCAL: generated on the token rather than imported. */
  local: boolean | null;
  /** The CKA_DECRYPT, CKA_SIGN, CKA_UNWRAP, CKA_SIGN_RECOVER, CKA_DERIVE flags that are true. */
  uses: string[];
  /** DER of a certificate on the token with the key's CKA_ID (or, without an id, its label). */
  certificate?: Buffer;
}

const usageAttributes = [
  ['CKA_DECRYPT', 'decrypt'],
  ['CKA_SIGN', 'sign'],
  ['CKA_UNWRAP', 'unwrap'],
  ['CKA_SIGN_RECOVER', 'sign-recover'],
  ['CKA_DERIVE', 'derive'],
] as const;

/**
 * Opens the private key a `pkcs11:` URI selects, logging in to its token if needed.
 *
 * @example
 * ```ts
 * const key = await openPkcs11Key('pkcs11:token=archive;object=archive-key', {
 *   module: '/usr/lib/softhsm/libsofthsm2.so', pin: async () => process.env.TOKEN_PIN!,
 * });
 * const blob = await key.decryptOaep(wrapped, 'sha1');
 * await key.close();
 * ```
 * @throws UsageError for a malformed URI or no module; KeyError when the binding or module cannot be
 *   loaded, no token or several match, the PIN is wrong, or not exactly one RSA private key matches.
 */
export async function openPkcs11Key(uriText: string, options: Pkcs11Options = {}): Promise<Pkcs11KeyHandle> {
  const uri = parsePkcs11Uri(uriText);
  if (uri.type !== undefined && uri.type !== 'private') throw new UsageError(`${uri.text}: a key URI must select type=private (or leave type out)`);
  const token = await acquireToken(uri, options, false);
  try {
    const [key, more] = token.find(uri, 'CKO_PRIVATE_KEY');
    if (key === undefined) throw new KeyError(`no private key on token "${token.description.label}" matches ${uri.text}: check object= and id= (pkcs11-tool --list-objects shows them)`);
    if (more !== undefined) throw new KeyError(`several private keys on token "${token.description.label}" match ${uri.text}: add object= or id= to pick one`);
    return tokenKeyHandle(token, key, uri);
  } catch (error) {
    await token.release();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// The binding: pkcs11js, typed here by the few calls we make so that compiling does not need it.

type Handle = Buffer;
interface Attribute {
  type: number;
  value?: number | boolean | string | Buffer;
}
interface Mechanism {
  mechanism: number;
  parameter?: { type: number; hashAlg: number; mgf: number; source: number; sourceData?: Buffer };
}
interface TokenInfo {
  label: string;
  manufacturerID: string;
  model: string;
  serialNumber: string;
  flags: number;
}
interface Pkcs11Api {
  load(path: string): void;
  C_Initialize(): void;
  C_Finalize(): void;
  close(): void;
  C_GetSlotList(tokenPresent: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): TokenInfo;
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Attribute[]): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attribute[]): { type: number; value: Buffer }[];
  C_DecryptInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_DecryptAsync(session: Handle, data: Buffer, out: Buffer): Promise<Buffer>;
  C_SignInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_SignAsync(session: Handle, data: Buffer, out: Buffer): Promise<Buffer>;
  C_GenerateKeyPairAsync(session: Handle, mechanism: Mechanism, publicTemplate: Attribute[], privateTemplate: Attribute[]): Promise<{ publicKey: Handle; privateKey: Handle }>;
  C_CreateObject(session: Handle, template: Attribute[]): Handle;
  C_SetAttributeValue(session: Handle, object: Handle, template: Attribute[]): void;
  C_DestroyObject(session: Handle, object: Handle): void;
}
/** PKCS#11 constants by their standard names (CKA_CLASS, CKR_PIN_INCORRECT, …), as pkcs11js exports them. */
type Binding = { PKCS11: new () => Pkcs11Api } & Record<string, unknown>;

let binding: Binding | undefined;

/** Loads pkcs11js on first use. @throws KeyError (exit 3) naming the fix when it is not installed. */
export function loadBinding(): Binding {
  if (binding) return binding;
  try {
    binding = createRequire(import.meta.url)('pkcs11js') as Binding;
  } catch {
    throw new KeyError(
      'PKCS#11 keys need the optional package pkcs11js, which is not installed or did not build here: run "npm install pkcs11js" (it needs python3, make and a C++ compiler), or use a key file',
    );
  }
  return binding;
}

/** Constants pkcs11js does not export, with their values from PKCS#11 v2.40 (pkcs11t.h). */
const missingConstants: Record<string, number> = { CKZ_DATA_SPECIFIED: 0x1 };

/** A PKCS#11 constant by its standard name. */
export function ck(name: string): number {
  const value = loadBinding()[name] ?? missingConstants[name];
  if (typeof value !== 'number') throw new Error(`pkcs11js has no constant ${name}`);
  return value;
}

/** The CKR_… name of a PKCS#11 failure (pkcs11js puts it in the message), or undefined for other errors. */
export function pkcs11ReturnName(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : '';
  return /^CKR_[A-Z0-9_]+/.exec(message)?.[0];
}

// ---------------------------------------------------------------------------------------------------
// Modules and token sessions, one of each per process.

interface LoadedModule {
  readonly api: Pkcs11Api;
  readonly path: string;
  refs: number;
}

const modules = new Map<string, Promise<LoadedModule>>();
const tokens = new Map<string, Promise<TokenSession>>();

/** The module path for a URI: its `module-path`, else `--pkcs11-module`, else the environment variable. */
export function resolveModulePath(uri: Pkcs11Uri, options: Pkcs11Options): string {
  const env = options.env ?? process.env;
  const path = uri.modulePath ?? options.module ?? (env[PKCS11_MODULE_ENV] || undefined);
  if (path === undefined) {
    throw new UsageError(`no PKCS#11 module for ${uri.text}: give --pkcs11-module PATH, module-path=PATH in the URI, or set ${PKCS11_MODULE_ENV}`);
  }
  return path;
}

async function acquireModule(path: string): Promise<LoadedModule> {
  let pending = modules.get(path);
  if (!pending) {
    pending = Promise.resolve().then(() => {
      const api = new (loadBinding().PKCS11)();
      try {
        api.load(path);
      } catch (error) {
        // dlopen's reason ("cannot open shared object file: No such file or directory") is the useful part.
        const reason = error instanceof Error ? error.message.replace(`${path}: `, '') : String(error);
        throw new KeyError(`cannot load PKCS#11 module ${path}: ${reason} (check --pkcs11-module, module-path= or ${PKCS11_MODULE_ENV})`);
      }
      try {
        api.C_Initialize();
      } catch (error) {
        if (pkcs11ReturnName(error) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
          api.close();
          throw new KeyError(`PKCS#11 module ${path} failed to initialise: ${pkcs11ReturnName(error) ?? String(error)}`);
        }
      }
      return { api, path, refs: 0 };
    });
    modules.set(path, pending);
    pending.catch(() => modules.delete(path));
  }
  const loaded = await pending;
  loaded.refs += 1;
  return loaded;
}

function releaseModule(loaded: LoadedModule): void {
  loaded.refs -= 1;
  if (loaded.refs > 0) return;
  modules.delete(loaded.path);
  try {
    loaded.api.C_Finalize();
  } finally {
    loaded.api.close();
  }
}

/** A logged-in session on one token, shared by every handle on it. */
export class TokenSession {
  refs = 1;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly module: LoadedModule,
    readonly session: Handle,
    readonly description: TokenDescription,
    /** The key of the shared-session map, or undefined for a private read/write session. */
    private readonly mapKey: string | undefined,
  ) {}

  get api(): Pkcs11Api {
    return this.module.api;
  }

  /** Runs token operations one after another: a session has at most one active operation. */
  run<T>(operation: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(operation);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Objects of a class that match the URI's `object` and `id`, at most two (enough to tell "several"). */
  find(uri: Pkcs11Uri, objectClass: string, extra: Attribute[] = []): Handle[] {
    const template: Attribute[] = [{ type: ck('CKA_CLASS'), value: ck(objectClass) }, ...extra];
    if (uri.object !== undefined) template.push({ type: ck('CKA_LABEL'), value: uri.object });
    if (uri.id !== undefined) template.push({ type: ck('CKA_ID'), value: uri.id });
    return this.findObjects(template, 2);
  }

  findObjects(template: Attribute[], max: number): Handle[] {
    this.api.C_FindObjectsInit(this.session, template);
    try {
      return this.api.C_FindObjects(this.session, max);
    } finally {
      this.api.C_FindObjectsFinal(this.session);
    }
  }

  /** Reads attributes that may be absent or unreadable: such ones come back undefined. */
  attributes(object: Handle, names: readonly string[]): Map<string, Buffer | undefined> {
    const out = new Map<string, Buffer | undefined>();
    for (const name of names) {
      try {
        out.set(name, this.api.C_GetAttributeValue(this.session, object, [{ type: ck(name) }])[0]?.value);
      } catch {
        out.set(name, undefined); // CKR_ATTRIBUTE_TYPE_INVALID or _SENSITIVE: the token does not say.
      }
    }
    return out;
  }

  async release(): Promise<void> {
    await this.tail;
    this.refs -= 1;
    if (this.refs > 0) return;
    if (this.mapKey !== undefined) tokens.delete(this.mapKey);
    try {
      this.api.C_CloseSession(this.session); // Closing the last session also logs out (PKCS#11 §5.6).
    } catch {
      // The session is gone either way; finalising the module below frees what is left.
    }
    releaseModule(this.module);
  }
}

/**
 * The shared session on the token the URI selects, logged in as the user. `write` opens a separate
 * read/write session (key generation), not shared.
 */
export async function acquireToken(uri: Pkcs11Uri, options: Pkcs11Options, write: boolean): Promise<TokenSession> {
  const path = resolveModulePath(uri, options);
  const loaded = await acquireModule(path);
  let slot: { slot: Handle; info: TokenInfo };
  try {
    slot = selectToken(loaded, uri);
  } catch (error) {
    releaseModule(loaded);
    throw error;
  }
  const mapKey = `${path}\0${slot.slot.toString('hex')}`;
  const shared = write ? undefined : tokens.get(mapKey);
  if (shared) {
    releaseModule(loaded); // The shared session already holds a reference to the module.
    const session = await shared;
    session.refs += 1;
    return session;
  }
  const opening = openSession(loaded, slot, uri, options, write ? undefined : mapKey, write);
  if (!write) {
    tokens.set(mapKey, opening);
    opening.catch(() => tokens.delete(mapKey));
  }
  try {
    return await opening;
  } catch (error) {
    releaseModule(loaded);
    throw error;
  }
}

function selectToken(loaded: LoadedModule, uri: Pkcs11Uri): { slot: Handle; info: TokenInfo } {
  const present = loaded.api.C_GetSlotList(true).map((slot) => ({ slot, info: loaded.api.C_GetTokenInfo(slot) }));
  const matching = present.filter(({ slot, info }) =>
    (uri.token === undefined || info.label.trim() === uri.token) &&
    (uri.manufacturer === undefined || info.manufacturerID.trim() === uri.manufacturer) &&
    (uri.model === undefined || info.model.trim() === uri.model) &&
    (uri.serial === undefined || info.serialNumber.trim() === uri.serial) &&
    (uri.slotId === undefined || slotNumber(slot) === uri.slotId),
  );
  const labels = present.map(({ info }) => `"${info.label.trim()}"`).join(', ') || 'none';
  if (matching.length === 0) throw new KeyError(`no token matches ${uri.text} in module ${loaded.path} (tokens present: ${labels})`);
  if (matching.length > 1) throw new KeyError(`several tokens match ${uri.text} (tokens present: ${labels}): add token= or serial= to pick one`);
  return matching[0]!;
}

/** CK_SLOT_ID as a number (pkcs11js hands it over as its native bytes, little-endian here). */
function slotNumber(slot: Handle): number {
  return Number(slot.length >= 8 ? slot.readBigUInt64LE(0) : slot.readUInt32LE(0));
}

async function openSession(
  loaded: LoadedModule,
  { slot, info }: { slot: Handle; info: TokenInfo },
  uri: Pkcs11Uri,
  options: Pkcs11Options,
  mapKey: string | undefined,
  write: boolean,
): Promise<TokenSession> {
  const { api } = loaded;
  const description: TokenDescription = {
    label: info.label.trim(),
    manufacturer: info.manufacturerID.trim(),
    model: info.model.trim(),
    serial: info.serialNumber.trim(),
    module: loaded.path,
  };
  const session = api.C_OpenSession(slot, ck('CKF_SERIAL_SESSION') | (write ? ck('CKF_RW_SESSION') : 0));
  try {
    if (write || (info.flags & ck('CKF_LOGIN_REQUIRED')) !== 0) await login(api, session, slot, info, uri, options);
  } catch (error) {
    api.C_CloseSession(session);
    throw error;
  }
  return new TokenSession(loaded, session, description, mapKey);
}

async function login(api: Pkcs11Api, session: Handle, slot: Handle, info: TokenInfo, uri: Pkcs11Uri, options: Pkcs11Options): Promise<void> {
  const label = info.label.trim();
  // A PIN pad or biometric reader takes the PIN itself: pass none (PKCS#11 v2.40 §5.6, C_Login).
  const pinPad = (info.flags & ck('CKF_PROTECTED_AUTHENTICATION_PATH')) !== 0;
  const pin = pinPad ? undefined : await readPin(uri, label, options);
  try {
    api.C_Login(session, ck('CKU_USER'), pin);
  } catch (error) {
    const name = pkcs11ReturnName(error);
    if (name === 'CKR_USER_ALREADY_LOGGED_IN') return;
    if (name === 'CKR_PIN_INCORRECT' || name === 'CKR_PIN_LEN_RANGE') {
      // Say when the token is close to locking itself, so that nobody retries blindly.
      const flags = api.C_GetTokenInfo(slot).flags;
      const warning = (flags & ck('CKF_USER_PIN_FINAL_TRY')) !== 0 ? '; one more wrong PIN locks the token' : (flags & ck('CKF_USER_PIN_COUNT_LOW')) !== 0 ? '; few tries are left before the token locks' : '';
      throw new KeyError(`wrong PIN for token "${label}" (${uri.text})${warning}`);
    }
    if (name === 'CKR_PIN_LOCKED') throw new KeyError(`the user PIN of token "${label}" is locked: its security officer must unlock it`);
    throw new KeyError(`cannot log in to token "${label}": ${name ?? String(error)}`);
  }
}

async function readPin(uri: Pkcs11Uri, label: string, options: Pkcs11Options): Promise<string> {
  if (uri.pinFile !== undefined) {
    let text: string;
    try {
      text = await readFile(uri.pinFile, 'utf8');
    } catch {
      throw new UsageError(`cannot read the PIN file ${uri.pinFile} (pin-source of ${uri.text})`);
    }
    const pin = text.replace(/\r?\n$/, '');
    if (pin === '') throw new UsageError(`the PIN file ${uri.pinFile} (pin-source of ${uri.text}) is empty`);
    return pin;
  }
  if (!options.pin) throw new KeyError(`token "${label}" needs a PIN: give --passphrase-env VAR, --passphrase-file FILE or pin-source=file:PATH in the URI`);
  return options.pin(label);
}

// ---------------------------------------------------------------------------------------------------
// Keys.

/** The public half of an RSA private key object, from its CKA_MODULUS and CKA_PUBLIC_EXPONENT. */
export function rsaPublicKeyOf(token: TokenSession, object: Handle, uri: Pkcs11Uri): KeyObject {
  const attributes = token.attributes(object, ['CKA_KEY_TYPE', 'CKA_MODULUS', 'CKA_PUBLIC_EXPONENT']);
  const keyType = attributes.get('CKA_KEY_TYPE');
  if (keyType !== undefined && readUlong(keyType) !== ck('CKK_RSA')) throw new KeyError(`${uri.text} is not an RSA key: archive keys are RSA`);
  const modulus = attributes.get('CKA_MODULUS');
  const exponent = attributes.get('CKA_PUBLIC_EXPONENT');
  if (!modulus || !exponent) throw new KeyError(`token "${token.description.label}" does not show the public part of ${uri.text} (CKA_MODULUS, CKA_PUBLIC_EXPONENT)`);
  return createPublicKey({ key: { kty: 'RSA', n: stripZeros(modulus).toString('base64url'), e: stripZeros(exponent).toString('base64url') }, format: 'jwk' });
}

/** A CK_ULONG attribute value (native byte order and width). */
export function readUlong(value: Buffer): number {
  return Number(value.length >= 8 ? value.readBigUInt64LE(0) : value.readUInt32LE(0));
}

function stripZeros(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

const oaepHashes: Record<OaepHash, { hash: string; mgf: string }> = {
  sha1: { hash: 'CKM_SHA_1', mgf: 'CKG_MGF1_SHA1' },
  sha256: { hash: 'CKM_SHA256', mgf: 'CKG_MGF1_SHA256' },
};

/**
 * Return values of C_Decrypt that mean "OAEP did not check out" (wrong key, hash or label), so the
 * keyring tries its next key. SoftHSM 2.6 reports every OAEP failure as CKR_GENERAL_ERROR (measured:
 * wrong key, wrong hash, data of any length), and the session stays usable after it.
 */
const oaepMismatch = new Set(['CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE', 'CKR_DATA_INVALID', 'CKR_DATA_LEN_RANGE', 'CKR_FUNCTION_FAILED', 'CKR_GENERAL_ERROR']);

/** A handle over a private key object; it owns one reference to the session (`close()` releases it). */
export function tokenKeyHandle(token: TokenSession, key: Handle, uri: Pkcs11Uri): Pkcs11KeyHandle {
  const publicKey = rsaPublicKeyOf(token, key, uri);
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  const names = token.attributes(key, ['CKA_LABEL', 'CKA_ID']);
  const { api, session } = token;
  const tokenLabel = token.description.label;
  let closed = false;
  /** Runs an operation on the shared session; a closed handle rejects, as a token failure does. */
  const onToken = <T>(operation: () => Promise<T> | T): Promise<T> =>
    closed ? Promise.reject(new KeyError(`${uri.text} was closed`)) : token.run(operation);
  return {
    label: uri.text,
    publicKey,
    bits,
    kind: 'pkcs11',
    token: token.description,
    object: { label: names.get('CKA_LABEL')?.toString('utf8') ?? '', id: names.get('CKA_ID')?.toString('hex') ?? '' },
    decryptOaep(data, hash, label) {
      const { hash: hashAlg, mgf } = oaepHashes[hash];
      const mechanism: Mechanism = {
        mechanism: ck('CKM_RSA_PKCS_OAEP'),
        parameter: { type: ck('CK_PARAMS_RSA_OAEP'), hashAlg: ck(hashAlg), mgf: ck(mgf), source: ck('CKZ_DATA_SPECIFIED'), ...(label && label.length > 0 ? { sourceData: Buffer.from(label) } : {}) },
      };
      return onToken(async () => {
        try {
          api.C_DecryptInit(session, mechanism, key);
        } catch (error) {
          const name = pkcs11ReturnName(error);
          if (hash === 'sha256' && (name === 'CKR_MECHANISM_PARAM_INVALID' || name === 'CKR_ARGUMENTS_BAD' || name === 'CKR_MECHANISM_INVALID')) {
            throw new KeyError(
              `token "${tokenLabel}" cannot do RSA-OAEP with SHA-256 (${name}; SoftHSM 2.6 has only SHA-1): sealed files need it — use a token that has it, or a key file for sealed files (docs/HSM.md)`,
            );
          }
          if (name === 'CKR_KEY_FUNCTION_NOT_PERMITTED') throw new KeyError(`${uri.text} may not decrypt (CKA_DECRYPT is false on token "${tokenLabel}")`);
          throw new KeyError(`token "${tokenLabel}" refused RSA-OAEP with ${uri.text}: ${name ?? String(error)}`);
        }
        try {
          return await api.C_DecryptAsync(session, Buffer.from(data), Buffer.alloc(Math.ceil(bits / 8)));
        } catch (error) {
          const name = pkcs11ReturnName(error);
          if (name !== undefined && oaepMismatch.has(name)) return undefined;
          throw new KeyError(`token "${tokenLabel}" failed to decrypt with ${uri.text}: ${name ?? String(error)}`);
        }
      });
    },
    sign(data) {
      return onToken(async () => {
        try {
          api.C_SignInit(session, { mechanism: ck('CKM_SHA256_RSA_PKCS') }, key);
          return await api.C_SignAsync(session, Buffer.from(data), Buffer.alloc(Math.ceil(bits / 8)));
        } catch (error) {
          const name = pkcs11ReturnName(error);
          if (name === 'CKR_KEY_FUNCTION_NOT_PERMITTED') throw new KeyError(`${uri.text} may not sign (CKA_SIGN is false on token "${tokenLabel}")`);
          throw new KeyError(`token "${tokenLabel}" failed to sign with ${uri.text}: ${name ?? String(error)}`);
        }
      });
    },
    describe() {
      return onToken(() => {
        const flags = ['CKA_SENSITIVE', 'CKA_EXTRACTABLE', 'CKA_ALWAYS_SENSITIVE', 'CKA_NEVER_EXTRACTABLE', 'CKA_LOCAL', ...usageAttributes.map(([name]) => name)];
        const values = token.attributes(key, flags);
        const flag = (name: string) => {
          const value = values.get(name);
          return value === undefined || value.length === 0 ? null : value[0] !== 0;
        };
        const id = names.get('CKA_ID');
        const objectLabel = names.get('CKA_LABEL');
        const match = id && id.length > 0 ? { type: ck('CKA_ID'), value: id } : objectLabel ? { type: ck('CKA_LABEL'), value: objectLabel } : undefined;
        const [certificate] = match ? token.findObjects([{ type: ck('CKA_CLASS'), value: ck('CKO_CERTIFICATE') }, match], 1) : [];
        const der = certificate ? token.attributes(certificate, ['CKA_VALUE']).get('CKA_VALUE') : undefined;
        return {
          sensitive: flag('CKA_SENSITIVE'),
          extractable: flag('CKA_EXTRACTABLE'),
          alwaysSensitive: flag('CKA_ALWAYS_SENSITIVE'),
          neverExtractable: flag('CKA_NEVER_EXTRACTABLE'),
          local: flag('CKA_LOCAL'),
          uses: usageAttributes.filter(([name]) => flag(name) === true).map(([, use]) => use),
          ...(der ? { certificate: der } : {}),
        };
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await token.release();
    },
  };
}

/** @throws OutputError (exit 6) when the token already holds an object with the label or id: never overwrite. */
export function assertObjectAbsent(token: TokenSession, uri: Pkcs11Uri): void {
  const byLabel = uri.object === undefined ? [] : token.findObjects([{ type: ck('CKA_LABEL'), value: uri.object }], 1);
  const byId = uri.id === undefined ? [] : token.findObjects([{ type: ck('CKA_ID'), value: uri.id }], 1);
  if (byLabel.length > 0 || byId.length > 0) {
    throw new OutputError(`token "${token.description.label}" already holds an object matching ${uri.text}; nothing was generated (choose another object= label or id=)`);
  }
}
