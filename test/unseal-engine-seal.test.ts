/**
 * sealArchive (the engine behind `seal`), serial and on the pool: its output opens with the pure
 * serial unsealer and has the size the format's arithmetic gives, at segment and run boundaries (a
 * serial run is 1 MiB of plaintext, a pool run here 3 segments), from a file and a stream; sealed →
 * unsealArchive on the pool round-trips; cancellation and bad options abort the sink.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, UsageError } from '../src/errors.js';
import { openFileSink } from '../src/engine/output.js';
import { createDecryptPool } from '../src/engine/threads/pool.js';
import { sealArchive } from '../src/engine/sealed/seal.js';
import { unsealArchive } from '../src/engine/sealed/unseal.js';
import { sealedSize, parseHeader } from '../src/format/sealed.js';
import { unsealBuffer } from '../src/format/sealed-stream.js';
import { createKeyring, fileKeyHandle } from '../src/keys/keyring.js';
import { unwrapFileKeySync } from '../src/keys/recipients.js';
import { FileSource, StreamSource } from '../src/storage/file.js';
import { tempDir } from './support/helpers.js';
import { memorySink } from './support/memory-sink.js';
import { vectorPrivateKey } from './support/sealed-vectors.js';

const alice = vectorPrivateKey('alice');
const bob = vectorPrivateKey('bob');
const MiB = 1024 * 1024;
const pool = createDecryptPool({ threads: 1, queueInThread: true });
let dir: string;
let counter = 0;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-seal-');
  await pool.ready();
});
afterAll(() => pool.close());

describe('sealArchive', () => {
  const cases = [
    [10, 0],
    [10, 1],
    [10, 1023],
    [10, 1024],
    [10, 1025],
    [10, 3 * 1024 - 1],
    [10, 3 * 1024],
    [10, 3 * 1024 + 1],
    [10, 100 * 1024 + 9],
    [10, MiB - 1],
    [10, MiB],
    [10, MiB + 1],
    [12, 2 * MiB + 5],
    [16, 3 * 65_536],
    [20, MiB + 3],
  ] as const;
  const modes = {
    serial: { parallelThreshold: Number.POSITIVE_INFINITY },
    'pool, runs of 3 segments': { pool, parallelThreshold: 0, taskSize: 3 * 1024 },
  };
  it.each(
    cases.flatMap(([log2, size]) =>
      (['file', 'stream'] as const).flatMap((kind) => (Object.keys(modes) as (keyof typeof modes)[]).map((mode) => [log2, size, kind, mode] as const)),
    ),
  )(
    'segments of 2^%i, %i bytes, from a %s, %s',
    async (log2, size, kind, mode) => {
      const plaintext = randomBytes(size);
      const path = join(dir, `plain-${counter++}`);
      await writeFile(path, plaintext);
      const source = kind === 'file' ? new FileSource(path) : new StreamSource(Readable.from([plaintext.subarray(0, 1000), plaintext.subarray(1000)]));
      const sink = memorySink();
      const before = pool.completedTasks;
      const report = await sealArchive({
        source,
        recipients: [createPublicKey(alice), createPublicKey(bob)],
        sink,
        log2SegmentSize: log2,
        context: Buffer.from('{"name":"x"}'),
        ...modes[mode],
      });
      expect(report.parallel).toBe(mode !== 'serial');
      if (mode !== 'serial' && size >= 100 * 1024) expect(pool.completedTasks).toBeGreaterThan(before);
      const sealed = sink.bytes();
      const parsed = parseHeader(sealed);
      if (!parsed.complete) expect.fail('header incomplete');
      expect(sealed.length).toBe(sealedSize(size, { headerLength: parsed.header.bytes.length, segmentSize: 2 ** log2 }));
      expect(report).toMatchObject({ plaintextBytes: size, sealedBytes: sealed.length, segments: Math.floor(size / 2 ** log2) + 1 });
      expect(report.recipients).toHaveLength(2);
      expect(parsed.header.context.toString()).toBe('{"name":"x"}');
      // Opened by the independent pure unsealer, for either recipient.
      for (const key of [alice, bob]) {
        expect(unsealBuffer(sealed, { fileKey: (header) => unwrapFileKeySync(header.recipients, [key]) }).equals(plaintext)).toBe(true);
      }
    },
  );

  it('round-trips through a file sink and unsealArchive on the pool', async () => {
    const plaintext = randomBytes(5 * MiB + 77);
    const input = join(dir, `plain-${counter++}`);
    await writeFile(input, plaintext);
    const sealedPath = join(dir, `sealed-${counter++}`);
    await sealArchive({ source: new FileSource(input), recipients: [createPublicKey(alice)], sink: await openFileSink(sealedPath) });
    const output = join(dir, `out-${counter++}`);
    const report = await unsealArchive({ source: new FileSource(sealedPath), keyring: createKeyring([fileKeyHandle(alice, 'alice')]), sink: await openFileSink(output), pool, parallelThreshold: 0, taskSize: MiB });
    expect(report.parallel).toBe(true);
    expect((await readFile(output)).equals(plaintext)).toBe(true);
  });

  it('aborts the sink when cancelled or given no recipient', async () => {
    const input = join(dir, `plain-${counter++}`);
    await writeFile(input, randomBytes(4 * MiB));
    const output = join(dir, `cancelled-${counter++}`);
    const controller = new AbortController();
    const error = await sealArchive({
      source: new FileSource(input),
      recipients: [createPublicKey(alice)],
      sink: await openFileSink(output),
      signal: controller.signal,
      onProgress: () => controller.abort(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(existsSync(output)).toBe(false);
    // The sink itself is told: aborted, never committed, after a cancel and after a refused option.
    const cancelled = memorySink();
    const again = new AbortController();
    const stopped = await sealArchive({ source: new FileSource(input), recipients: [createPublicKey(alice)], sink: cancelled, signal: again.signal, onProgress: () => again.abort() }).catch((e: unknown) => e);
    expect(stopped).toBeInstanceOf(AbortError);
    expect(cancelled.bytes().length).toBeGreaterThan(0);
    expect(cancelled.state).toBe('aborted');
    const refused = memorySink();
    await expect(sealArchive({ source: new FileSource(input), recipients: [], sink: refused })).rejects.toBeInstanceOf(UsageError);
    expect(refused.state).toBe('aborted');
  });
});
