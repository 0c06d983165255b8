/**
 * Property tests (fast-check; FC_RUNS raises the run count): sealing round-trips for any plaintext and
 * any chunking; every random mutation of a sealed file (bit flip, truncation, insertion, deletion,
 * overwrite) is rejected with an IntegrityError, and what was released before the error is always a
 * prefix of the plaintext.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../src/errors.js';
import { RECIPIENT_RSA_OAEP_SHA256, parseHeader, plaintextSize, sealedSize } from '../src/format/sealed.js';
import { createSealer, createUnsealer } from '../src/format/sealed-stream.js';

const numRuns = Number(process.env.FC_RUNS ?? 200);
const log2SegmentSize = 10;
const segmentSize = 2 ** log2SegmentSize;
const fileKey = randomBytes(32);
// The file key is given to the unsealer directly, so the stanza only has to be well-formed.
const recipients = [{ type: RECIPIENT_RSA_OAEP_SHA256, keyId: randomBytes(8), wrappedKey: randomBytes(256) }] as const;

function sealInChunks(plaintext: Uint8Array, chunk: number): Buffer {
  const sealer = createSealer({ fileKey, salt: randomBytes(32), log2SegmentSize, recipients: [...recipients] });
  const out = [sealer.header];
  for (let offset = 0; offset < plaintext.length; offset += chunk) out.push(...sealer.push(plaintext.subarray(offset, offset + chunk)));
  out.push(...sealer.finish());
  return Buffer.concat(out);
}

function unsealInChunks(sealed: Uint8Array, chunk: number): { released: Buffer; error?: unknown } {
  const unsealer = createUnsealer({ fileKey });
  const out: Buffer[] = [];
  try {
    for (let offset = 0; offset < sealed.length; offset += chunk) out.push(...unsealer.push(sealed.subarray(offset, offset + chunk)));
    out.push(...unsealer.finish());
    return { released: Buffer.concat(out) };
  } catch (error) {
    return { released: Buffer.concat(out), error };
  }
}

const plaintexts = fc.oneof(
  fc.uint8Array({ maxLength: 4 * segmentSize + 40 }),
  // Sizes right at segment boundaries, where the empty final segment lives.
  fc.integer({ min: 0, max: 4 }).map((n) => randomBytes(n * segmentSize)),
);
const chunkSizes = fc.oneof(fc.integer({ min: 1, max: 3 * segmentSize }), fc.constantFrom(segmentSize, segmentSize + 32, 1));

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array };

const mutations: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 2 * segmentSize }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 2 * segmentSize }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

/** Applies a mutation; `at` is taken modulo the length so every mutation lands inside the file. */
function mutate(sealed: Buffer, m: Mutation): Buffer {
  const at = m.at % sealed.length;
  switch (m.kind) {
    case 'flip': {
      const copy = Buffer.from(sealed);
      copy[at] = (copy[at] ?? 0) ^ (1 << m.bit);
      return copy;
    }
    case 'truncate':
      return sealed.subarray(0, at);
    case 'insert':
      return Buffer.concat([sealed.subarray(0, at), m.bytes, sealed.subarray(at)]);
    case 'delete':
      return Buffer.concat([sealed.subarray(0, at), sealed.subarray(Math.min(sealed.length, at + m.count))]);
    case 'overwrite': {
      const copy = Buffer.from(sealed);
      copy.set(m.bytes.subarray(0, copy.length - at), at);
      return copy;
    }
  }
}

describe('sealed format properties', () => {
  it('round-trips any plaintext through any chunking, with the size arithmetic agreeing', () => {
    fc.assert(
      fc.property(plaintexts, chunkSizes, chunkSizes, (plaintext, sealChunk, openChunk) => {
        const sealed = sealInChunks(plaintext, sealChunk);
        const parsed = parseHeader(sealed);
        if (!parsed.complete) return expect.fail('header incomplete');
        const layout = { headerLength: parsed.header.bytes.length, segmentSize };
        expect(sealed.length).toBe(sealedSize(plaintext.length, layout));
        expect(plaintextSize(sealed.length, layout)).toBe(plaintext.length);
        const result = unsealInChunks(sealed, openChunk);
        expect(result.error).toBeUndefined();
        expect(result.released.equals(plaintext)).toBe(true);
      }),
      { numRuns },
    );
  });

  it('rejects every mutation, releasing only a prefix of the plaintext', () => {
    fc.assert(
      fc.property(plaintexts, mutations, chunkSizes, (plaintext, mutation, openChunk) => {
        const sealed = sealInChunks(plaintext, segmentSize);
        const damaged = mutate(sealed, mutation);
        fc.pre(!damaged.equals(sealed)); // an overwrite with the same bytes changes nothing
        const result = unsealInChunks(damaged, openChunk);
        expect(result.error).toBeInstanceOf(IntegrityError);
        expect(Buffer.from(plaintext).subarray(0, result.released.length).equals(result.released)).toBe(true);
      }),
      { numRuns },
    );
  });
});
