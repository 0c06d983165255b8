/**
 * The storage read machinery without a network: the parallel reader over a real file, the resume
 * loop over an in-memory opener that fails on a schedule, and the checksum verifier.
 */
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { beforeAll, describe, expect, test } from 'vitest';
import { AbortError, IntegrityError, StorageError } from '../src/errors.js';
import { createChecksumVerifier } from '../src/storage/checksum.js';
import { FileSource } from '../src/storage/file.js';
import { readParallel } from '../src/storage/parallel.js';
import { resumableRead, type RangeOpener } from '../src/storage/resumable.js';
import { resolveRetryPolicy } from '../src/storage/retry.js';
import type { Source, SourceInfo } from '../src/storage/source.js';
import { tempDir } from './support/helpers.js';
import { collect } from './support/emulators.js';

const data = randomBytes(300_001);
let file: FileSource;

beforeAll(async () => {
  const path = join(await tempDir(), 'object.bin');
  await writeFile(path, data);
  file = new FileSource(path);
});

describe('readParallel', () => {
  const partSize = 65_536;
  // Part-boundary table: ranges that end just before, at and just after a part boundary.
  const ranges: [number, number][] = [
    [0, data.length],
    [0, partSize - 1],
    [0, partSize],
    [0, partSize + 1],
    [1, 2 * partSize + 1],
    [partSize - 1, 3 * partSize],
    [data.length - 1, data.length],
    [100, 100],
  ];
  test.each([1, 2, 4, 8])('concurrency %i returns every range in order', async (concurrency) => {
    for (const [start, end] of ranges) {
      const bytes = await collect(readParallel(file, { start, end, partSize, concurrency }));
      expect(bytes.equals(data.subarray(start, end)), `[${start}, ${end})`).toBe(true);
    }
  });

  test('never has more than `concurrency` parts in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const counting: Source = {
      name: 'counting',
      rangeable: true,
      stat: () => file.stat(),
      async *read(start, end, signal) {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        try {
          yield* file.read(start, end, signal);
        } finally {
          inFlight -= 1;
        }
      },
    };
    const bytes = await collect(readParallel(counting, { partSize: 10_000, concurrency: 3 }));
    expect(bytes.equals(data)).toBe(true);
    expect(peak).toBe(3);
  });

  test('a part that ends starts the next GET at once while an older part still downloads, up to concurrency + 2 parts held', async () => {
    // Part 0 is held back until released; every other part reads at once.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started: number[] = [];
    let ended = 0;
    let inFlight = 0;
    let peak = 0;
    const source: Source = {
      name: 'slow first part',
      rangeable: true,
      stat: () => file.stat(),
      async *read(start = 0, end, signal) {
        started.push(start);
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        try {
          if (start === 0) await gate;
          yield* file.read(start, end, signal);
        } finally {
          inFlight -= 1;
          ended += 1;
        }
      },
    };
    const reading = collect(readParallel(source, { partSize: 10_000, concurrency: 3 }));
    // Parts 1 to 4 end while part 0 waits; then the reader holds 5 parts and starts no sixth.
    while (ended < 4) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 10_000, 20_000, 30_000, 40_000]);
    release();
    expect((await reading).equals(data)).toBe(true);
    expect(started).toHaveLength(31);
    expect(peak).toBe(3);
  });

  test('the oldest part streams: its first bytes are handed out before it ends', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const source: Source = {
      name: 'stalling first part',
      rangeable: true,
      stat: () => file.stat(),
      async *read(start = 0, end, signal) {
        if (start !== 0) {
          yield* file.read(start, end, signal);
          return;
        }
        yield data.subarray(0, 1000);
        await gate;
        yield data.subarray(1000, end);
      },
    };
    const chunks = readParallel(source, { partSize: 10_000, concurrency: 2 });
    const first = await chunks.next();
    expect(Buffer.from(first.value as Uint8Array).equals(data.subarray(0, 1000))).toBe(true);
    release();
    const rest = await collect(chunks);
    expect(Buffer.concat([first.value as Uint8Array, rest]).equals(data)).toBe(true);
  });

  test('a cancelled read fails, never ends early as if complete', async () => {
    // Parts that read at once: when the signal fires, the held parts are all downloaded and no GET
    // is in flight to notice it.
    const memory: Source = {
      name: 'memory',
      rangeable: true,
      stat: () => file.stat(),
      // eslint-disable-next-line @typescript-eslint/require-await
      async *read(start = 0, end, signal) {
        signal?.throwIfAborted();
        yield data.subarray(start, end);
      },
    };
    const controller = new AbortController();
    const chunks = readParallel(memory, { partSize: 10_000, concurrency: 2, signal: controller.signal });
    await chunks.next();
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await expect(collect(chunks)).rejects.toThrow();
  });

  test('a failing part fails the whole read and cancels the others', async () => {
    const cancelled: number[] = [];
    const failing: Source = {
      name: 'failing',
      rangeable: true,
      stat: () => file.stat(),
      async *read(start = 0, end, signal) {
        if (start === 20_000) throw new StorageError('part 3 failed');
        signal?.addEventListener('abort', () => cancelled.push(start));
        yield* file.read(start, end);
        // Slow parts: still running when the failure is seen.
        await new Promise((resolve) => setTimeout(resolve, 50));
      },
    };
    await expect(collect(readParallel(failing, { partSize: 10_000, concurrency: 4 }))).rejects.toThrow('part 3 failed');
    expect(cancelled.length).toBeGreaterThan(0);
  });

  test('rejects a bad part size or concurrency naming the option', async () => {
    await expect(collect(readParallel(file, { partSize: 0 }))).rejects.toThrow('options.partSize must be a positive integer');
    await expect(collect(readParallel(file, { concurrency: 1.5 }))).rejects.toThrow('options.concurrency must be a positive integer');
  });
});

/** An in-memory object whose GETs fail as scheduled: after N bytes, or before any. */
function flakyOpener(schedule: ({ kind: 'reset'; afterBytes: number } | { kind: 'denied' } | undefined)[]): RangeOpener & { requests: [number, number][] } {
  const requests: [number, number][] = [];
  return {
    name: 'memory://object',
    requests,
    classify: (error) =>
      (error as { code?: string }).code === 'ECONNRESET'
        ? { transient: true, error: new StorageError('connection reset') }
        : { transient: false, error: new StorageError('access denied', { code: 'ERR_ACCESS_DENIED' }) },
    openRange(start, end) {
      const fault = schedule[requests.length];
      requests.push([start, end]);
      if (fault?.kind === 'denied') return Promise.reject(new Error('denied'));
      const stopAt = fault?.kind === 'reset' ? Math.min(end, start + fault.afterBytes) : end;
      const chunks: Uint8Array[] = [];
      for (let at = start; at < stopAt; at += 7_000) chunks.push(data.subarray(at, Math.min(stopAt, at + 7_000)));
      return Promise.resolve(
        (async function* () {
          for (const chunk of chunks) {
            await new Promise(setImmediate); // one network tick per chunk
            yield chunk;
          }
          if (fault?.kind === 'reset') throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        })(),
      );
    },
  };
}

const quick = resolveRetryPolicy({ retries: 2, baseDelayMs: 1, maxDelayMs: 2, idleTimeoutMs: 1_000 });

describe('FileSource', () => {
  test('a file that ends before the end it was asked for (it shrank after stat) is a storage failure, at the byte where it ended', async () => {
    const path = join(await tempDir(), 'shrinking.bin');
    await writeFile(path, data);
    const source = new FileSource(path);
    const { size } = await source.stat();
    await truncate(path, 100_000);
    await expect(collect(source.read(0, size))).rejects.toThrow(new StorageError(`${path} shrank while it was read (at byte 100000); run again once it is complete`));
    await expect(collect(source.read(50_000, size))).rejects.toThrow(/shrank while it was read \(at byte 100000\)/);
    // Within what is there, and with no end given, nothing is wrong.
    expect((await collect(source.read(0, 100_000))).equals(data.subarray(0, 100_000))).toBe(true);
    expect((await collect(source.read(0))).byteLength).toBe(100_000);
  });
});

describe('resumableRead', () => {
  test('resumes from the first missing byte after each reset', async () => {
    const opener = flakyOpener([{ kind: 'reset', afterBytes: 10_000 }, { kind: 'reset', afterBytes: 0 }, { kind: 'reset', afterBytes: 1 }]);
    const bytes = await collect(resumableRead(opener, 5, 200_000, quick));
    expect(bytes.equals(data.subarray(5, 200_000))).toBe(true);
    expect(opener.requests).toEqual([
      [5, 200_000],
      [10_005, 200_000],
      [10_005, 200_000],
      [10_006, 200_000],
    ]);
  });

  test('progress resets the failure count: many resets with progress still succeed', async () => {
    const opener = flakyOpener(Array.from({ length: 10 }, () => ({ kind: 'reset' as const, afterBytes: 1_000 })));
    expect((await collect(resumableRead(opener, 0, 50_000, quick))).equals(data.subarray(0, 50_000))).toBe(true);
  });

  test('gives up after `retries` failures without progress', async () => {
    const opener = flakyOpener([{ kind: 'reset', afterBytes: 0 }, { kind: 'reset', afterBytes: 0 }, { kind: 'reset', afterBytes: 0 }]);
    await expect(collect(resumableRead(opener, 0, 1_000, quick))).rejects.toThrow('connection reset (gave up after 3 attempts)');
    expect(opener.requests).toHaveLength(3);
  });

  test('a permanent failure is not retried', async () => {
    const opener = flakyOpener([{ kind: 'denied' }]);
    await expect(collect(resumableRead(opener, 0, 1_000, quick))).rejects.toMatchObject({ code: 'ERR_ACCESS_DENIED' });
    expect(opener.requests).toHaveLength(1);
  });

  test('a cancelled read throws AbortError and stops asking', async () => {
    const controller = new AbortController();
    const opener = flakyOpener([]);
    const chunks = resumableRead(opener, 0, data.length, quick, controller.signal);
    const first = await chunks.next();
    expect(first.done).toBe(false);
    controller.abort();
    await expect(chunks.next()).rejects.toBeInstanceOf(AbortError);
  });
});

describe('createChecksumVerifier', () => {
  const body = data.subarray(0, 12_345);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  const info: SourceInfo = {
    size: body.length,
    checksums: {
      md5: createHash('md5').update(body).digest(),
      sha1: createHash('sha1').update(body).digest(),
      sha256: createHash('sha256').update(body).digest(),
      crc32: crc,
      crc32c: Buffer.alloc(4),
    },
  };

  test.each([1, 1000, 12_345])('accepts the right bytes fed in chunks of %i, skipping crc32c', (chunk) => {
    const verifier = createChecksumVerifier(info);
    for (let at = 0; at < body.length; at += chunk) verifier.update(body.subarray(at, at + chunk));
    expect(verifier.verify()).toEqual(['md5', 'sha1', 'sha256', 'crc32']);
    expect(verifier.verify()).toEqual(['md5', 'sha1', 'sha256', 'crc32']);
  });

  test.each(['md5', 'sha1', 'sha256', 'crc32'] as const)('a wrong %s is an IntegrityError naming it', (algorithm) => {
    const wrong = Buffer.from(info.checksums?.[algorithm] ?? []);
    wrong[0] = (wrong[0] ?? 0) ^ 0xff;
    const verifier = createChecksumVerifier({ size: body.length, checksums: { [algorithm]: wrong } });
    verifier.update(body);
    expect(() => verifier.verify()).toThrow(IntegrityError);
    expect(() => verifier.verify()).toThrow(`${algorithm} checksum does not match`);
  });

  test('no checksums: only the length is checked', () => {
    const verifier = createChecksumVerifier({ size: 3 });
    verifier.update(Buffer.from('abcd'));
    expect(verifier.algorithms).toEqual([]);
    expect(() => verifier.verify()).toThrow(/received 4 bytes but the store reports 3/);
  });
});
