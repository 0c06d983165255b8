/**
 * Property test (fast-check; FC_RUNS raises the run count) of unsealArchive on the pool: for random
 * plaintexts, random mutations of the sealed file (bit flip, truncation, insertion, deletion) and random
 * run sizes, the pool path fails with the same IntegrityError message as the pure streaming unsealer,
 * releases exactly the same bytes (always a prefix of the plaintext) and aborts the sink; unmutated
 * files round-trip. Each run picks a crypto backend (native core or node:crypto, docs/ENGINE.md).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memorySink } from './support/memory-sink.js';
import { IntegrityError } from '../src/errors.js';
import { createDecryptPool } from '../src/engine/threads/pool.js';
import { unsealArchive } from '../src/engine/sealed/unseal.js';
import { RECIPIENT_RSA_OAEP_SHA256, TAG_LENGTH } from '../src/format/sealed.js';
import { createUnsealer, sealBuffer } from '../src/format/sealed-stream.js';
import { StreamSource } from '../src/storage/file.js';

const numRuns = Number(process.env.FC_RUNS ?? 100);
const log2SegmentSize = 10;
const segmentSize = 2 ** log2SegmentSize;
const fileKey = randomBytes(32);
// The file key is given directly, so the stanza only has to be well-formed.
const recipients = [{ type: RECIPIENT_RSA_OAEP_SHA256, keyId: randomBytes(8), wrappedKey: randomBytes(256) }] as const;
const pool = createDecryptPool({ threads: 2, queueInThread: true });

beforeAll(() => pool.ready());
afterAll(() => pool.close());

type Mutation = { kind: 'none' } | { kind: 'flip'; at: number; bit: number } | { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; bytes: Uint8Array } | { kind: 'delete'; at: number; count: number };

const mutations: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 2 * segmentSize }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 2 * segmentSize }) }),
);

function mutate(sealed: Buffer, m: Mutation): Buffer {
  if (m.kind === 'none') return sealed;
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
  }
}

/** The reference: the pure streaming unsealer, fed in one go. */
function reference(sealed: Buffer): { released: Buffer; error?: Error } {
  const unsealer = createUnsealer({ fileKey });
  const out: Buffer[] = [];
  try {
    out.push(...unsealer.push(sealed), ...unsealer.finish());
    return { released: Buffer.concat(out) };
  } catch (error) {
    return { released: Buffer.concat(out), error: error as Error };
  }
}

async function onThePool(sealed: Buffer, segmentsPerRun: number, chunk: number, crypto: 'native' | 'node') {
  const sink = memorySink();
  const chunks: Buffer[] = [];
  for (let at = 0; at < sealed.length; at += chunk) chunks.push(sealed.subarray(at, at + chunk));
  try {
    await unsealArchive({ source: new StreamSource(Readable.from(chunks)), fileKey, sink, pool, parallelThreshold: 0, taskSize: segmentsPerRun * (segmentSize + TAG_LENGTH), crypto });
    return { released: sink.bytes(), state: sink.state };
  } catch (error) {
    return { released: sink.bytes(), state: sink.state, error: error as Error };
  }
}

describe('unsealArchive on the pool, property', () => {
  it('matches the streaming unsealer on any mutation, releasing only a prefix of the plaintext', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 12 * segmentSize + 40 }),
        mutations,
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 100, max: 5000 }),
        fc.constantFrom('native' as const, 'node' as const),
        async (plaintext, mutation, segmentsPerRun, chunk, crypto) => {
          const sealed = sealBuffer(plaintext, { fileKey, salt: randomBytes(32), log2SegmentSize, recipients: [...recipients] });
          const damaged = mutate(sealed, mutation);
          const expected = reference(damaged);
          const actual = await onThePool(damaged, segmentsPerRun, chunk, crypto);
          expect(actual.error?.message).toBe(expected.error?.message);
          expect(actual.released.equals(expected.released)).toBe(true);
          expect(Buffer.from(plaintext).subarray(0, actual.released.length).equals(actual.released)).toBe(true);
          if (damaged.equals(sealed)) {
            expect(actual.state).toBe('committed');
            expect(actual.released.equals(plaintext)).toBe(true);
          } else {
            expect(actual.error).toBeInstanceOf(IntegrityError);
            expect(actual.state).toBe('aborted');
          }
        },
      ),
      { numRuns },
    );
  });
});
