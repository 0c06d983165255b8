/**
 * The few DER building blocks the key formats need, on top of node-forge's ASN.1 codec.
 * node-forge works on "binary strings" (one char per byte); these helpers keep Buffers at the edges.
 */
import forge from 'node-forge';

const { asn1 } = forge;
export type Asn1 = forge.asn1.Asn1;

export const der = {
  sequence: (items: Asn1[]): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items),
  set: (items: Asn1[]): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, items),
  oid: (oid: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()),
  integer: (value: number): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(value).getBytes()),
  octets: (bytes: Uint8Array): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, toBinary(bytes)),
  null: (): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
  bmpString: (text: string): Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BMPSTRING, false, text),
  /** `[n] EXPLICIT` wrapper. */
  explicit: (tag: number, inner: Asn1): Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag, true, [inner]),
};

export function encodeDer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

/** Strict parse (forge's defaults); throws on trailing or truncated bytes. */
export function decodeDer(bytes: Uint8Array): Asn1 {
  return asn1.fromDer(forge.util.createBuffer(toBinary(bytes)));
}

export function toBinary(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('binary');
}

export function fromBinary(text: string): Buffer {
  return Buffer.from(text, 'binary');
}

/** Children of a constructed node (empty for primitives). */
export function children(node: Asn1 | undefined): Asn1[] {
  return node && Array.isArray(node.value) ? node.value : [];
}

/** Bytes of a primitive node, or the concatenation of a BER constructed OCTET STRING's parts. */
export function octetsOf(node: Asn1 | undefined): Buffer {
  if (!node) throw new Error('missing ASN.1 element');
  if (typeof node.value === 'string') return fromBinary(node.value);
  return Buffer.concat(node.value.map((part) => octetsOf(part)));
}

export function oidOf(node: Asn1 | undefined): string {
  if (!node || node.type !== asn1.Type.OID || typeof node.value !== 'string') throw new Error('expected an OID');
  return asn1.derToOid(node.value);
}

export function integerOf(node: Asn1 | undefined): number {
  if (!node || node.type !== asn1.Type.INTEGER || typeof node.value !== 'string') throw new Error('expected an INTEGER');
  return asn1.derToInteger(node.value);
}
