/**
 * Runs every vector of test/vectors/sealed.json (written by scripts/make-sealed-vectors.js) as a whole
 * buffer, as a stream cut at a table of chunk sizes, and byte by byte; through the RSA recipients and,
 * where it applies, with the file key given directly.
 */
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ArchiveCryptError } from '../src/errors.js';
import { TAG_LENGTH } from '../src/format/sealed.js';
import { createUnsealer, unsealBuffer, unsealStream, type UnsealerOptions } from '../src/format/sealed-stream.js';
import { keyIdOf, unwrapFileKeySync } from '../src/keys/recipients.js';
import { sealedVectors, vectorPlaintext, type SealedVector } from './support/sealed-vectors.js';


const privateKeys = new Map<string, KeyObject>(
  Object.entries(sealedVectors.keys).map(([name, k]) => [name, createPrivateKey(k.privateKeyPem)]),
);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function viaRecipients(v: SealedVector): UnsealerOptions {
  const keys = v.openWith.map((name) => privateKeys.get(name) ?? expect.fail(`no key ${name}`));
  return { fileKey: (header) => unwrapFileKeySync(header.recipients, keys) };
}
function viaFileKey(v: SealedVector): UnsealerOptions | undefined {
  return v.fileKey === null ? undefined : { fileKey: Buffer.from(v.fileKey, 'hex') };
}

/** Feeds `sealed` in chunks of `size` through the sync unsealer; returns what was released and the error. */
function unsealInChunks(sealed: Buffer, size: number, options: UnsealerOptions): { released: Buffer; error?: unknown } {
  const unsealer = createUnsealer(options);
  const out: Buffer[] = [];
  try {
    for (let offset = 0; offset < sealed.length; offset += size) out.push(...unsealer.push(sealed.subarray(offset, offset + size)));
    out.push(...unsealer.finish());
    return { released: Buffer.concat(out) };
  } catch (error) {
    return { released: Buffer.concat(out), error };
  }
}

function expectOutcome(v: SealedVector, result: { released: Buffer; error?: unknown }): void {
  const expected = vectorPlaintext(v.plaintextSize);
  if (v.result === 'ok') {
    expect(result.error).toBeUndefined();
    expect(result.released.length).toBe(v.plaintextSize);
    expect(sha256(result.released)).toBe(v.plaintextSha256);
    return;
  }
  expect(result.error).toBeInstanceOf(ArchiveCryptError);
  const error = result.error as ArchiveCryptError;
  expect(error.name).toBe(v.error);
  expect(error.exitCode).toBe(v.result === 'key' ? 3 : 4);
  expect(error.message).toContain(v.message);
  // Whatever was released before the failure is verified plaintext: a prefix of the original.
  expect(result.released.equals(expected.subarray(0, result.released.length))).toBe(true);
}

/** Chunk sizes around the segment and tag boundaries of the vector's segment size. */
function chunkSizes(v: SealedVector): number[] {
  const s = 2 ** v.log2SegmentSize;
  return [1, 7, 31, 32, 33, s - 1, s, s + 1, s + TAG_LENGTH - 1, s + TAG_LENGTH, s + TAG_LENGTH + 1, 3 * s + 5, 65_536];
}

describe('sealed vectors', () => {
  it('cover every category of the issue', () => {
    const names = sealedVectors.vectors.map((v) => v.name).join('\n');
    for (const category of ['truncated', 'trailing data', 'reordered', 'duplicated', 'dropped', 'flipped bit: header tag', 'flipped bit: wrapped key', 'flipped bit: ciphertext', 'flipped bit: segment tag', 'header moved', 'wrong recipient']) {
      expect(names).toContain(category);
    }
    for (const [name, key] of Object.entries(sealedVectors.keys)) {
      expect(keyIdOf(privateKeys.get(name) ?? expect.fail(name)).toString('hex')).toBe(key.keyId);
    }
  });

  describe.each(sealedVectors.vectors)('$name', (v) => {
    const sealed = Buffer.from(v.sealed, 'base64');

    it('as a whole buffer', () => {
      let result: { released: Buffer; error?: unknown };
      try {
        result = { released: unsealBuffer(sealed, viaRecipients(v)) };
      } catch (error) {
        result = { released: Buffer.alloc(0), error };
      }
      expectOutcome(v, result);
    });

    it('as a stream of chunks, at every boundary size', () => {
      for (const size of chunkSizes(v)) expectOutcome(v, unsealInChunks(sealed, size, viaRecipients(v)));
    });

    it('through the async generator', async () => {
      const chunks = (function* () {
        for (let offset = 0; offset < sealed.length; offset += 1000) yield sealed.subarray(offset, offset + 1000);
      })();
      const out: Buffer[] = [];
      let error: unknown;
      try {
        for await (const piece of unsealStream(chunks, viaRecipients(v))) out.push(piece);
      } catch (caught) {
        error = caught;
      }
      expectOutcome(v, { released: Buffer.concat(out), ...(error === undefined ? {} : { error }) });
    });

    it('byte by byte, and with the file key given directly', () => {
      if (sealed.length <= 16_384) expectOutcome(v, unsealInChunks(sealed, 1, viaRecipients(v)));
      const direct = viaFileKey(v);
      if (direct !== undefined) expectOutcome(v, unsealInChunks(sealed, 4096, direct));
    });
  });
});
