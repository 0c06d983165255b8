/**
 * The native core's two-thread pipeline (engine/archive/windows.ts, native `decryptRanges`): ranges
 * read by position and decrypted in place by the calling thread and a libuv thread taking claims
 * from one counter, or a window decrypted (and hashed) in order. Checked against node:crypto over
 * random sizes, range sizes, paddings and splits of the claims between the threads (fast-check;
 * FC_RUNS raises the run count), plus the failures each thread can find: a sync byte, padding, a
 * file that shrank — same error, same report, nothing committed.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, truncateSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ArchiveCheckError, decryptArchive, type DecryptReport } from '../src/engine/archive/decrypt.js';
import { RANGES_PER_WINDOW } from '../src/engine/archive/windows.js';
import { openFileSink, type OutputSink } from '../src/engine/output.js';
import { StorageError } from '../src/errors.js';
import type { Padding } from '../src/format/opentok.js';
import { loadNative, loadNativeBinding, type NativeBinding } from '../src/native.js';
import { FileSource } from '../src/storage/file.js';
import { fixtures, tempDir } from './support/helpers.js';
import { passwordFor } from './support/archive-keyring.js';

const numRuns = Number(process.env.FC_RUNS ?? 25);

/** The native binding whatever ARCHIVE_CRYPT_NATIVE says, or a failure that says why it is missing. */
function nativeBinding(): NativeBinding {
  const { binding, reason } = loadNativeBinding();
  if (!binding) throw new Error(`native core unavailable: ${reason} (npm ci builds it; see native/build/build.log)`);
  return binding;
}

let dir: string;
beforeAll(async () => {
  dir = await tempDir('archive-crypt-windows-');
});

function encrypt(key: Buffer, iv: Buffer, plaintext: Buffer, padding: Padding): Buffer {
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  cipher.setAutoPadding(padding === 'pkcs7');
  return Buffer.concat([cipher.update(plaintext), cipher.final()]);
}

function decryptWithNode(key: Buffer, iv: Buffer, ciphertext: Buffer, padding: Padding): Buffer {
  const decipher = createDecipheriv('aes-256-cbc', key, iv);
  decipher.setAutoPadding(padding === 'pkcs7');
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

function memorySink(): OutputSink & { bytes(): Buffer; committed: boolean } {
  const parts: Buffer[] = [];
  const sink = {
    name: 'memory',
    committed: false,
    write: (chunk: Uint8Array) => Promise.resolve(void parts.push(Buffer.from(chunk))),
    commit: () => Promise.resolve(void (sink.committed = true)),
    abort: () => Promise.resolve(),
    bytes: () => Buffer.concat(parts),
  };
  return sink;
}

type RangesArgs = Parameters<NativeBinding['decryptRanges']> extends [...infer A, ((error: Error | null, firstBadSync: number) => void)?] ? A : never;

/** Runs `decryptRanges` on a libuv thread. */
function decryptRangesAsync(native: NativeBinding, ...args: RangesArgs): Promise<number> {
  return new Promise((resolve, reject) => {
    native.decryptRanges(...args, (error: Error | null, bad: number) => (error ? reject(error) : resolve(bad)));
  });
}

describe('native decryptRanges', () => {
  /**
   * Where a window's ranges come from: the file's descriptor (read by position, decrypted in place),
   * a mapping of it (decrypted out of place), or — in order only — the window itself, already read.
   */
  const sources = [
    { name: 'read by position', open: (_native: NativeBinding, fd: number) => ({ source: fd, close: () => undefined }) },
    {
      name: 'mapped',
      open: (native: NativeBinding, fd: number, size: number) => {
        const mapping = native.mapFile(fd, size);
        return { source: mapping, close: () => native.unmapFile(mapping) };
      },
    },
  ];

  /** Writes the ciphertext of `plaintext` to a file and opens `kind` over it. */
  async function opened(native: NativeBinding, kind: (typeof sources)[number], key: Buffer, iv: Buffer, plaintext: Buffer) {
    const path = join(dir, `ranges-${kind.name.replace(/ /g, '-')}`);
    await writeFile(path, encrypt(key, iv, plaintext, 'none'));
    const fd = openSync(path, 'r');
    const { source, close } = kind.open(native, fd, plaintext.length);
    return { source, close: () => (close(), closeSync(fd)) };
  }

  describe.each(sources)('ranges $name', (kind) => {
    it('claims split between a libuv thread and this one decrypt like node:crypto, and the first bad sync byte is the smallest either found', async () => {
      const native = nativeBinding();
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 64 }), // blocks per range
          fc.integer({ min: 1, max: 12 }), // ranges
          fc.integer({ min: 0, max: 15 }), // blocks missing from the last range
          fc.nat(), // ranges left to this thread before the libuv thread starts claiming
          fc.array(fc.nat(), { maxLength: 4 }), // packet starts with a bad sync byte
          async (rangeBlocks, ranges, short, split, badPackets) => {
            const rangeSize = rangeBlocks * 16;
            const size = Math.max(16, ranges * rangeSize - Math.min(short, rangeBlocks - 1) * 16);
            const count = Math.ceil(size / rangeSize);
            const key = randomBytes(32);
            const iv = randomBytes(16);
            const plaintext = Buffer.alloc(size, 0x47); // every byte a sync byte, but the bad ones
            const bad = badPackets.map((p) => (p % Math.ceil(size / 188)) * 188).filter((offset) => offset < size);
            for (const offset of bad) plaintext[offset] = 0;
            const { source, close } = await opened(native, kind, key, iv, plaintext);
            try {
              const data = Buffer.from(new SharedArrayBuffer(count * rangeSize));
              // This thread takes the first `first` ranges from its own counter, the libuv thread the rest.
              const first = split % (count + 1);
              const theirs = new Int32Array(new SharedArrayBuffer(4));
              theirs[0] = first;
              const job = decryptRangesAsync(native, key, iv, source, data, rangeSize, count, 0, size, theirs, 0, null, 0);
              const mine = first > 0 ? native.decryptRanges(key, iv, source, data, rangeSize, first, 0, Math.min(size, first * rangeSize), null, 0, null, 0) : -1;
              const other = await job;
              const found = [mine, other].filter((x) => x >= 0);
              expect(data.subarray(0, size).equals(plaintext)).toBe(true);
              expect(found.length > 0 ? Math.min(...found) : -1).toBe(bad.length > 0 ? Math.min(...bad) : -1);
            } finally {
              close();
            }
          },
        ),
        { numRuns },
      );
    });

    it('both threads on one claim counter cover every range once', async () => {
      const native = nativeBinding();
      const key = randomBytes(32);
      const iv = randomBytes(16);
      const rangeSize = 4096;
      const size = 200 * rangeSize - 48;
      const plaintext = randomBytes(size);
      const { source, close } = await opened(native, kind, key, iv, plaintext);
      try {
        const data = Buffer.from(new SharedArrayBuffer(200 * rangeSize));
        const claims = new Int32Array(new SharedArrayBuffer(4));
        const job = decryptRangesAsync(native, key, iv, source, data, rangeSize, 200, 0, size, claims, -1, null, 0);
        native.decryptRanges(key, iv, source, data, rangeSize, 200, 0, size, claims, -1, null, 0);
        await job;
        expect(claims[0]).toBeGreaterThanOrEqual(200);
        expect(data.subarray(0, size).equals(plaintext)).toBe(true);
      } finally {
        close();
      }
    });
  });

  it.each([
    { name: 'in memory (one range, from the archive IV)', mapped: false },
    { name: 'mapped (ranges in order from any block on)', mapped: true },
  ])('a window $name is decrypted in order and hashed on the libuv thread', async ({ mapped }) => {
    const native = nativeBinding();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3000 }), fc.nat(), fc.integer({ min: 1, max: 64 }), fc.nat(), async (blocks, skip, rangeBlocks, from) => {
        const key = randomBytes(32);
        const iv = randomBytes(16);
        const plaintext = randomBytes(blocks * 16);
        const start = mapped ? (from % blocks) * 16 : 0;
        const window = Buffer.from(new SharedArrayBuffer(blocks * 16 - start));
        const rangeSize = mapped ? rangeBlocks * 16 : window.length;
        const hashed = (skip % (window.length / 16 + 1)) * 16;
        const file = mapped ? await opened(native, sources[1] as (typeof sources)[number], key, iv, plaintext) : undefined;
        if (!file) encrypt(key, iv, plaintext, 'none').copy(window);
        const hash = native.hashNew(4);
        try {
          await decryptRangesAsync(native, key, iv, file?.source ?? -1, window, rangeSize, Math.ceil(window.length / rangeSize), start, blocks * 16, null, -1, hash, hashed);
        } finally {
          file?.close();
        }
        const digest = Buffer.alloc(32);
        native.digestFinal(hash, digest);
        native.contextFree(hash);
        expect(window.equals(plaintext.subarray(start))).toBe(true);
        expect(digest.equals(createHash('sha256').update(plaintext.subarray(start, start + hashed)).digest())).toBe(true);
      }),
      { numRuns },
    );
  });

  it('a file that ends before the planned size is an error with the offset, from either thread', async () => {
    const native = nativeBinding();
    const path = join(dir, 'short');
    await writeFile(path, randomBytes(1000 * 16));
    const fd = openSync(path, 'r');
    try {
      const data = Buffer.from(new SharedArrayBuffer(2000 * 16));
      const args = [Buffer.alloc(32), Buffer.alloc(16), fd, data, 4096, 8, 0, 2000 * 16, null, -1, null, 0] as const;
      expect(() => native.decryptRanges(...args)).toThrow(/ended at byte 16000/);
      await expect(decryptRangesAsync(native, ...args)).rejects.toMatchObject({ shrankAt: 16000 });
    } finally {
      closeSync(fd);
    }
  });

  it.each([
    ['a range size that is not whole blocks', [4095, 1, 0, 4095]],
    ['an end beyond the window', [4096, 1, 0, 8192]],
    ['several ranges without a file', [16, 2, 0, 32]],
  ] as const)('refuses %s', (_name, [rangeSize, count, first, end]) => {
    const native = nativeBinding();
    expect(() => native.decryptRanges(Buffer.alloc(32), Buffer.alloc(16), -1, Buffer.alloc(4096), rangeSize, count, first, end, null, -1, null, 0)).toThrow(RangeError);
  });
});

describe('decryptArchive on the native windows', () => {
  const RANGE = 16 * 16;
  const WINDOW = RANGES_PER_WINDOW * RANGE;

  it('equals node:crypto over random sizes, range sizes and paddings, hashed or not', async () => {
    nativeBinding();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 6 * WINDOW }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom('pkcs7' as const, 'none' as const),
        fc.boolean(),
        async (size, rangeBlocks, padding, hashing) => {
          const key = randomBytes(32);
          const iv = randomBytes(16);
          const plaintext = randomBytes(padding === 'none' ? size - (size % 16) : size);
          const ciphertext = encrypt(key, iv, plaintext, padding);
          const path = join(dir, 'property');
          await writeFile(path, ciphertext);
          const sink = memorySink();
          const report = await decryptArchive({
            source: new FileSource(path),
            ...passwordFor(key, iv),
            sink,
            padding,
            checkMpegTs: false,
            parallelThreshold: 0,
            rangeSize: rangeBlocks * 16,
            crypto: 'native',
            ...(hashing ? { expectSha256: createHash('sha256').update(plaintext).digest() } : {}),
          }).catch((error: unknown) => error);
          // ARCHIVE_CRYPT_NATIVE=0 (the whole suite on the fallback) takes the pool path instead: it must agree too.
          expect(report).toMatchObject({ ok: true, parallel: true, crypto: loadNative() ? 'native' : 'node', ciphertextBytes: ciphertext.length, plaintextBytes: plaintext.length });
          expect(sink.bytes().equals(decryptWithNode(key, iv, ciphertext, padding))).toBe(true);
          expect(sink.committed).toBe(true);
          const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('base64');
          if (hashing) expect((report as DecryptReport).checks.sha256).toMatchObject({ status: 'ok', ciphertext: sha(ciphertext), plaintext: sha(plaintext) });
        },
      ),
      { numRuns },
    );
  });

  /** MPEG-TS media of `packets` packets, with a bad sync byte at each of `badPackets`. */
  async function media(packets: number, badPackets: number[]): Promise<Buffer> {
    const sample = await readFile(join(fixtures, 'media', 'sample.ts'));
    const bytes = Buffer.concat(Array.from({ length: Math.ceil((packets * 188) / sample.length) }, () => sample)).subarray(0, packets * 188);
    for (const p of badPackets) bytes[p * 188] = 0;
    return Buffer.from(bytes);
  }

  it.each([
    ['in every range (both threads find one)', (packets: number) => Array.from({ length: Math.floor(packets / 7) }, (_, i) => 3 + i * 7)],
    ['in the last range only', (packets: number) => [packets - 2]],
    ['in the first window only', () => [1]],
  ])('a bad sync byte %s: exit code 4, the first offset reported, no output file', async (_name, where) => {
    const packets = 130; // 12 windows of 8 ranges
    const bad = where(packets);
    const plaintext = await media(packets, bad);
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const path = join(dir, 'badsync');
    await writeFile(path, encrypt(key, iv, plaintext, 'pkcs7'));
    const outDir = await tempDir('archive-crypt-windows-out-');
    const error = await decryptArchive({
      source: new FileSource(path),
      ...passwordFor(key, iv),
      sink: await openFileSink(join(outDir, 'out.ts')),
      parallelThreshold: 0,
      rangeSize: RANGE,
      crypto: 'native',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveCheckError);
    expect((error as ArchiveCheckError).exitCode).toBe(4);
    expect((error as ArchiveCheckError).report.checks.mpegts).toMatchObject({ status: 'failed', firstBadOffset: Math.min(...bad) * 188 });
    expect(await readdir(outDir)).toEqual([]);
  });

  it('bad padding at the end of the last window: exit code 4, no output file', async () => {
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const ciphertext = encrypt(key, iv, randomBytes(5 * WINDOW + 100), 'pkcs7');
    ciphertext[ciphertext.length - 17] = (ciphertext[ciphertext.length - 17] ?? 0) ^ 0xff;
    const path = join(dir, 'badpad');
    await writeFile(path, ciphertext);
    const outDir = await tempDir('archive-crypt-windows-out-');
    const error = await decryptArchive({
      source: new FileSource(path),
      ...passwordFor(key, iv),
      sink: await openFileSink(join(outDir, 'out.ts')),
      checkMpegTs: false,
      parallelThreshold: 0,
      rangeSize: RANGE,
      crypto: 'native',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveCheckError);
    expect((error as ArchiveCheckError).report.checks).toMatchObject({ length: 'ok', padding: 'failed' });
    expect(await readdir(outDir)).toEqual([]);
  });

  it('a file that shrinks after its size was taken is a storage failure (exit 5), no output file', async () => {
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const path = join(dir, 'shrinks');
    await writeFile(path, encrypt(key, iv, randomBytes(40 * WINDOW), 'pkcs7'));
    const outDir = await tempDir('archive-crypt-windows-out-');
    const error = await decryptArchive({
      source: new FileSource(path),
      ...passwordFor(key, iv),
      sink: await openFileSink(join(outDir, 'out.ts')),
      checkMpegTs: false,
      parallelThreshold: 0,
      rangeSize: RANGE,
      crypto: 'native',
      // Once the first window is out, the rest of the file goes.
      onProgress: (bytes) => {
        if (bytes === WINDOW) truncateSync(path, 2 * WINDOW);
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).exitCode).toBe(5);
    expect((error as Error).message).toMatch(/shrank while it was read/);
    expect(await readdir(outDir)).toEqual([]);
  });
});
