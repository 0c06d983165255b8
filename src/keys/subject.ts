/**
 * Distinguished names for certificates and CSRs, written the way people type them:
 * `CN=Archive key,O=Example Ltd,C=GB` (RFC 4514 style, `\,` escapes a comma, values may be quoted)
 * or OpenSSL's `/CN=Archive key/O=Example Ltd`.
 */
import { UsageError } from '../errors.js';

/** One attribute of a distinguished name, in the order written. */
export interface NameAttribute {
  /** Short name as written by OpenSSL: CN, O, OU, C, ST, L, emailAddress, … */
  shortName: string;
  oid: string;
  value: string;
  /** DER string type: UTF8String by default, PrintableString for C, IA5String for emailAddress. */
  stringType: 'utf8' | 'printable' | 'ia5';
}

interface AttributeSpec {
  shortName: string;
  oid: string;
  maxLength: number;
  stringType: NameAttribute['stringType'];
}

// Upper bounds from RFC 5280 appendix A (ub-common-name etc.).
const attributeSpecs: AttributeSpec[] = [
  { shortName: 'CN', oid: '2.5.4.3', maxLength: 64, stringType: 'utf8' },
  { shortName: 'O', oid: '2.5.4.10', maxLength: 64, stringType: 'utf8' },
  { shortName: 'OU', oid: '2.5.4.11', maxLength: 64, stringType: 'utf8' },
  { shortName: 'C', oid: '2.5.4.6', maxLength: 2, stringType: 'printable' },
  { shortName: 'ST', oid: '2.5.4.8', maxLength: 128, stringType: 'utf8' },
  { shortName: 'L', oid: '2.5.4.7', maxLength: 128, stringType: 'utf8' },
  { shortName: 'STREET', oid: '2.5.4.9', maxLength: 128, stringType: 'utf8' },
  { shortName: 'serialNumber', oid: '2.5.4.5', maxLength: 64, stringType: 'printable' },
  { shortName: 'emailAddress', oid: '1.2.840.113549.1.9.1', maxLength: 255, stringType: 'ia5' },
];
const aliases: Record<string, string> = { E: 'EMAILADDRESS', EMAIL: 'EMAILADDRESS', S: 'ST', SERIAL: 'SERIALNUMBER' };
const knownNames = attributeSpecs.map((spec) => spec.shortName).join(', ');

/**
 * Parses a subject such as `CN=Archive key,O=Example Ltd`.
 *
 * @example
 * ```ts
 * parseSubject('CN=Archive key,O=Example\\, Inc.,C=GB');
 * // [{ shortName: 'CN', value: 'Archive key', … }, { shortName: 'O', value: 'Example, Inc.', … }, …]
 * ```
 * @throws UsageError (exit 2) naming the part that is wrong.
 */
export function parseSubject(text: string): NameAttribute[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new UsageError('--subject is empty: write it like "CN=Archive key,O=Example Ltd"');
  const parts = trimmed.startsWith('/') ? splitUnescaped(trimmed.slice(1), '/') : splitUnescaped(trimmed, ',');
  return parts.map((part) => parseAttribute(part, text));
}

/** Formats attributes back to a one-line `CN=…, O=…` string, escaping what needs it. */
export function formatSubject(attributes: readonly Pick<NameAttribute, 'shortName' | 'value'>[]): string {
  return attributes.map((a) => `${a.shortName}=${a.value.replace(/([,+"\\<>;=])/g, '\\$1')}`).join(', ');
}

function parseAttribute(part: string, whole: string): NameAttribute {
  const equals = part.indexOf('=');
  if (equals <= 0) throw new UsageError(`bad --subject "${whole}": "${part.trim()}" is not NAME=value`);
  const name = part.slice(0, equals).trim();
  const upper = name.toUpperCase();
  const spec = attributeSpecs.find((s) => s.shortName.toUpperCase() === (aliases[upper] ?? upper));
  if (!spec) throw new UsageError(`bad --subject "${whole}": unknown attribute "${name}" (known: ${knownNames})`);
  const value = unescapeValue(part.slice(equals + 1).trim(), whole);
  if (value === '') throw new UsageError(`bad --subject "${whole}": ${spec.shortName} is empty`);
  if (spec.shortName === 'C' && !/^[A-Za-z]{2}$/.test(value)) {
    throw new UsageError(`bad --subject "${whole}": C must be a two-letter country code such as GB`);
  }
  if ([...value].length > spec.maxLength) {
    throw new UsageError(`bad --subject "${whole}": ${spec.shortName} is longer than ${spec.maxLength} characters`);
  }
  if (spec.stringType === 'printable' && !/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value)) {
    throw new UsageError(`bad --subject "${whole}": ${spec.shortName} may only use letters, digits and ' ()+,-./:=?`);
  }
  if (spec.stringType === 'ia5' && !/^[\x20-\x7e]*$/.test(value)) {
    throw new UsageError(`bad --subject "${whole}": ${spec.shortName} must be plain ASCII`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new UsageError(`bad --subject "${whole}": control characters are not allowed`);
  return {
    shortName: spec.shortName,
    oid: spec.oid,
    value: spec.shortName === 'C' ? value.toUpperCase() : value,
    stringType: spec.stringType,
  };
}

/** Splits on separators that are neither backslash-escaped nor inside double quotes. */
function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + text[i + 1]!;
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quoted) throw new UsageError(`bad --subject "${text}": unbalanced double quote`);
  parts.push(current);
  return parts;
}

function unescapeValue(raw: string, whole: string): string {
  const body = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  let value = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\') {
      const next = body[i + 1];
      if (next === undefined) throw new UsageError(`bad --subject "${whole}": it ends with a lone backslash`);
      value += next;
      i++;
    } else if (ch === '"') {
      throw new UsageError(`bad --subject "${whole}": a double quote inside a value must be escaped as \\"`);
    } else {
      value += ch;
    }
  }
  return value;
}
