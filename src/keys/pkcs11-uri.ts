/**
 * PKCS#11 URIs (RFC 7512): `pkcs11:token=Archive%20keys;object=archive-key?pin-source=file:/run/pin`.
 * Pure parsing, no token access. The path part selects a token and an object; the query part says
 * where the module and the PIN come from. docs/HSM.md lists what this toolkit reads.
 */
import { UsageError } from '../errors.js';

/** What a `pkcs11:` URI selects. Byte values (`id`) are raw; the rest are the decoded UTF-8 text. */
export interface Pkcs11Uri {
  /** The URI as given, for messages (it never holds a PIN: `pin-value` is refused). */
  readonly text: string;
  readonly token?: string;
  readonly manufacturer?: string;
  readonly serial?: string;
  readonly model?: string;
  readonly slotId?: number;
  /** CKA_LABEL of the object. */
  readonly object?: string;
  /** CKA_ID of the object. */
  readonly id?: Buffer;
  readonly type?: 'private' | 'public' | 'cert' | 'secret-key' | 'data';
  /** `module-path`: the PKCS#11 library (.so) to load. */
  readonly modulePath?: string;
  /** `pin-source`: only `file:` URIs (RFC 7512 §2.4 leaves the form to the application). */
  readonly pinFile?: string;
}

const pathAttributes = new Set(['token', 'manufacturer', 'serial', 'model', 'object', 'id', 'type', 'slot-id',
  'library-manufacturer', 'library-description', 'library-version', 'slot-description', 'slot-manufacturer']);
const queryAttributes = new Set(['module-path', 'module-name', 'pin-source', 'pin-value']);
const objectTypes = new Set(['private', 'public', 'cert', 'secret-key', 'data']);

/** Whether a `--key` value or keyring entry names a token key rather than a file. */
export function isPkcs11Uri(value: string): boolean {
  return /^pkcs11:/i.test(value);
}

/**
 * Parses a PKCS#11 URI.
 *
 * @example
 * ```ts
 * const uri = parsePkcs11Uri('pkcs11:token=archive;object=key-2026;id=%01%02');
 * uri.id; // <Buffer 01 02>
 * ```
 * @throws UsageError naming the URI and the attribute that is malformed, unknown, repeated or refused.
 */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!isPkcs11Uri(text)) throw new UsageError(`${text} is not a PKCS#11 URI (expected pkcs11:token=…;object=…)`);
  const body = text.slice('pkcs11:'.length);
  const queryStart = body.indexOf('?');
  const pathPart = queryStart < 0 ? body : body.slice(0, queryStart);
  const queryPart = queryStart < 0 ? '' : body.slice(queryStart + 1);
  const values = new Map<string, string>();
  const bytes = new Map<string, Buffer>();
  const take = (part: string, separator: string, allowed: Set<string>) => {
    for (const pair of part.split(separator)) {
      if (pair === '') continue;
      const equals = pair.indexOf('=');
      const name = (equals < 0 ? pair : pair.slice(0, equals)).toLowerCase();
      if (equals < 0) throw new UsageError(`PKCS#11 URI ${text}: attribute "${name}" has no value`);
      if (!allowed.has(name) && !name.startsWith('x-')) throw new UsageError(`PKCS#11 URI ${text}: unknown attribute "${name}"`);
      if (values.has(name)) throw new UsageError(`PKCS#11 URI ${text}: attribute "${name}" is given twice`);
      const raw = percentDecode(pair.slice(equals + 1), text, name);
      bytes.set(name, raw);
      values.set(name, raw.toString('utf8'));
    }
  };
  take(pathPart, ';', pathAttributes);
  take(queryPart, '&', queryAttributes);

  // A PIN inside the URI would sit in argv, shell history and config files: RFC 7512 allows it, we do not.
  if (values.has('pin-value')) throw new UsageError(`PKCS#11 URI ${text}: pin-value is refused (a PIN must not be in a URI); use pin-source=file:PATH, --passphrase-env or --passphrase-file`);
  if (values.has('module-name')) throw new UsageError(`PKCS#11 URI ${text}: module-name is not supported; give module-path=/path/to/module.so or --pkcs11-module`);

  const type = values.get('type');
  if (type !== undefined && !objectTypes.has(type)) throw new UsageError(`PKCS#11 URI ${text}: type must be one of ${[...objectTypes].join(', ')}`);
  const slot = values.get('slot-id');
  if (slot !== undefined && !/^\d+$/.test(slot)) throw new UsageError(`PKCS#11 URI ${text}: slot-id must be a decimal number`);
  const pinSource = values.get('pin-source');
  let pinFile: string | undefined;
  if (pinSource !== undefined) {
    if (!pinSource.startsWith('file:')) throw new UsageError(`PKCS#11 URI ${text}: pin-source must be file:PATH`);
    // Both file:/abs/path and file:///abs/path (RFC 8089) name a local file.
    pinFile = pinSource.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (pinFile === '') throw new UsageError(`PKCS#11 URI ${text}: pin-source file: has no path`);
  }
  const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));
  return {
    text,
    ...optional('token', values.get('token')),
    ...optional('manufacturer', values.get('manufacturer')),
    ...optional('serial', values.get('serial')),
    ...optional('model', values.get('model')),
    ...optional('slotId', slot === undefined ? undefined : Number(slot)),
    ...optional('object', values.get('object')),
    ...optional('id', bytes.get('id')),
    ...optional('type', type as Pkcs11Uri['type']),
    ...optional('modulePath', values.get('module-path')),
    ...optional('pinFile', pinFile),
  };
}

/** RFC 3986 percent-decoding to bytes; a lone or malformed `%` is an error, not a literal. */
function percentDecode(value: string, uri: string, name: string): Buffer {
  const [first = '', ...escaped] = value.split('%');
  const parts = [Buffer.from(first, 'utf8')];
  for (const part of escaped) {
    if (!/^[0-9a-fA-F]{2}/.test(part)) throw new UsageError(`PKCS#11 URI ${uri}: bad percent-encoding in "${name}"`);
    parts.push(Buffer.from([parseInt(part.slice(0, 2), 16)]), Buffer.from(part.slice(2), 'utf8'));
  }
  return Buffer.concat(parts);
}
