/**
 * The sealed-format vectors, test/vectors/sealed.json (written by scripts/make-sealed-vectors.js; the
 * fields are described in docs/FORMAT.md, "Test vectors"), read once for every test that uses them.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface SealedVector {
  name: string;
  comment: string;
  log2SegmentSize: number;
  recipients: string[];
  openWith: string[];
  fileKey: string | null;
  salt: string;
  context: string;
  /** The sealed file, base64. */
  sealed: string;
  result: 'ok' | 'integrity' | 'key';
  error?: string;
  message?: string;
  plaintextSize: number;
  plaintextSha256: string;
}

export interface SealedVectorFile {
  description: string;
  plaintext: string;
  /** The public test keys of the vectors (alice, bob, carol), kept in the file as Wycheproof does. */
  keys: Record<string, { privateKeyPem: string; keyId: string }>;
  vectors: SealedVector[];
}

export const sealedVectors = JSON.parse(readFileSync(new URL('../vectors/sealed.json', import.meta.url), 'utf8')) as SealedVectorFile;

/** The PEM of a vector key by name. */
export function vectorKeyPem(name: string): string {
  const key = sealedVectors.keys[name];
  if (!key) throw new Error(`test/vectors/sealed.json has no key ${name}`);
  return key.privateKeyPem;
}

export function vectorPrivateKey(name: string): KeyObject {
  return createPrivateKey(vectorKeyPem(name));
}

export function vectorNamed(name: string): SealedVector {
  const vector = sealedVectors.vectors.find((v) => v.name === name);
  if (!vector) throw new Error(`test/vectors/sealed.json has no vector "${name}"`);
  return vector;
}

/** The plaintext the vectors seal, cut to `size`: byte i is i mod 251 (the file's `plaintext`). */
export function vectorPlaintext(size: number): Buffer {
  const plaintext = Buffer.alloc(size);
  for (let i = 0; i < size; i++) plaintext[i] = i % 251;
  return plaintext;
}
