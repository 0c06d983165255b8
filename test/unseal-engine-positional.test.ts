/**
 * The sealed pipelines on a local file with a pool: each run is read by position by the thread that
 * seals or opens it (engine/threads/run-read.ts). Default 64 KiB segments, runs of two segments, so
 * the final segment (0, 1, 64 KiB − 1 bytes; a file of 64 KiB or 64 KiB + 1) falls at and around run
 * boundaries; seal → serial unsealer and unseal → plaintext on both backends. A segment damaged in a
 * run a pool thread reads and opens fails with exit 4 and releases only what came before it (a file
 * output: nothing); a file shorter than its stat said (it shrank while read) fails with exit 5.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, StorageError } from '../src/errors.js';
import { openFileSink } from '../src/engine/output.js';
import { createDecryptPool } from '../src/engine/threads/pool.js';
import { sealArchive } from '../src/engine/sealed/seal.js';
import { unsealArchive } from '../src/engine/sealed/unseal.js';
import { TAG_LENGTH } from '../src/format/sealed.js';
import { sealBuffer, unsealBuffer } from '../src/format/sealed-stream.js';
import { unwrapFileKeySync, wrapFileKey } from '../src/keys/recipients.js';
import { FileSource } from '../src/storage/file.js';
import type { SourceInfo } from '../src/storage/source.js';
import { tempDir } from './support/helpers.js';
import type { CryptoBackendName } from '../src/crypto-backend.js';
import { loadNative } from '../src/native.js';
import { vectorPrivateKey } from './support/sealed-vectors.js';
import { memorySink, type MemorySink } from './support/memory-sink.js';

const alice = vectorPrivateKey('alice');
const SEGMENT = 64 * 1024;
const FULL = SEGMENT + TAG_LENGTH;
/** Plaintext bytes: the final segment's size at, before and after run boundaries (runs of two segments). */
const sizes = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT - 1, 2 * SEGMENT, 2 * SEGMENT + 1, 4 * SEGMENT, 5 * SEGMENT + 1, 9 * SEGMENT - 1, 16 * SEGMENT, 17 * SEGMENT + 1, 33 * SEGMENT - 1];
/**
 * pool: a one-thread pool given (the worker reads its runs); windows: no pool, the native core's
 * two-thread windows (the main thread and a libuv thread read runs of 8-run windows, in C).
 */
const paths: [CryptoBackendName, 'pool' | 'windows'][] = [
  ['native', 'pool'],
  ['node', 'pool'],
  ['native', 'windows'],
];

const pool = createDecryptPool({ threads: 1, queueInThread: true });
let dir: string;
let counter = 0;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-positional-');
  await pool.ready();
});
afterAll(() => pool.close());

function plaintextOf(size: number): Buffer {
  const p = Buffer.alloc(size);
  for (let i = 0; i < size; i++) p[i] = (i * 13 + (i >> 16)) % 256;
  return p;
}

async function fileOf(bytes: Buffer): Promise<string> {
  const path = join(dir, `input-${counter++}.bin`);
  await writeFile(path, bytes);
  return path;
}

/** A file whose stat says it is `extra` bytes longer than it is: as if it shrank after the stat. */
class ShrunkFile extends FileSource {
  constructor(
    path: string,
    private readonly extra: number,
  ) {
    super(path);
  }
  override async stat(): Promise<SourceInfo> {
    const info = await super.stat();
    return { ...info, size: (info.size ?? 0) + this.extra };
  }
}

const sealOf = (plaintext: Buffer, fileKey: Buffer) => sealBuffer(plaintext, { fileKey, salt: randomBytes(32), recipients: [wrapFileKey(fileKey, createPublicKey(alice))] });

it('the native core is built (else the native rows below would test node:crypto twice)', () => {
  expect(loadNative(), 'npm ci builds native/ (see docs/ENGINE.md)').toBeDefined();
});

describe.each(paths)('runs read by position (%s, %s)', (crypto, path) => {
  const through = path === 'pool' ? { pool } : {};
  const countsPool = path === 'pool';
  it.each(sizes)('seal: %i bytes → the serial unsealer gives them back', async (size) => {
    const plaintext = plaintextOf(size);
    const sink = memorySink();
    const before = pool.completedTasks;
    const report = await sealArchive({ source: new FileSource(await fileOf(plaintext)), recipients: [createPublicKey(alice)], sink, ...through, parallelThreshold: 0, taskSize: 2 * SEGMENT, crypto });
    expect(report.parallel).toBe(true);
    expect(report.crypto).toBe(crypto);
    expect(sink.state).toBe('committed');
    expect(unsealBuffer(sink.bytes(), { fileKey: (header) => unwrapFileKeySync(header.recipients, [alice]) }).equals(plaintext)).toBe(true);
    expect(report.segments).toBe(Math.floor(size / SEGMENT) + 1);
    // Runs beyond what the main thread took while queueing went to the pool thread, which read them itself.
    if (countsPool && size >= 4 * SEGMENT) expect(pool.completedTasks).toBeGreaterThan(before);
    if (!countsPool) expect(pool.completedTasks).toBe(before);
  });

  it.each(sizes)('unseal: %i bytes → the plaintext', async (size) => {
    const fileKey = randomBytes(32);
    const plaintext = plaintextOf(size);
    const sealed = sealOf(plaintext, fileKey);
    const sink = memorySink();
    const before = pool.completedTasks;
    const report = await unsealArchive({ source: new FileSource(await fileOf(sealed)), fileKey, sink, ...through, parallelThreshold: 0, taskSize: 2 * FULL, crypto });
    expect(sink.bytes().equals(plaintext)).toBe(true);
    expect(sink.state).toBe('committed');
    expect(report).toMatchObject({ parallel: true, crypto, plaintextBytes: size, sealedBytes: sealed.length, segments: Math.floor(size / SEGMENT) + 1 });
    if (countsPool && size >= 4 * SEGMENT) expect(pool.completedTasks).toBeGreaterThan(before);
    if (!countsPool) expect(pool.completedTasks).toBe(before);
  });

  it.each([0, 7, 8, 9, 30])('a damaged segment %i: exit 4, only the segments before it released', async (damaged) => {
    const fileKey = randomBytes(32);
    const plaintext = plaintextOf(32 * SEGMENT + 5);
    const sealed = sealOf(plaintext, fileKey);
    const headerLength = sealed.length - (32 * FULL + 5 + TAG_LENGTH);
    flip(sealed, headerLength + damaged * FULL + 3);
    const sink = memorySink();
    const error = await unsealArchive({ source: new FileSource(await fileOf(sealed)), fileKey, sink, ...through, parallelThreshold: 0, taskSize: FULL, crypto }).catch((e: unknown) => e);
    expect((error as IntegrityError).exitCode).toBe(4);
    expect((error as Error).message).toBe(`invalid segment tag in segment ${damaged}`);
    expect(sink.bytes().equals(plaintext.subarray(0, damaged * SEGMENT))).toBe(true);
    expect(sink.state).toBe('aborted');
  });

  it('a truncated file (final segment missing, size unchecked by a lying stat): exit 4', async () => {
    const fileKey = randomBytes(32);
    const sealed = sealOf(plaintextOf(3 * SEGMENT), fileKey);
    const sink = memorySink();
    const cut = sealed.subarray(0, sealed.length - TAG_LENGTH); // the empty final segment's tag gone
    const error = await unsealArchive({ source: new FileSource(await fileOf(cut)), fileKey, sink, ...through, parallelThreshold: 0, taskSize: FULL, crypto }).catch((e: unknown) => e);
    expect((error as IntegrityError).exitCode).toBe(4);
    expect(sink.state).toBe('aborted');
  });

  it('a damaged segment in a run the pool thread opens: exit 4, only the segments before it released', async () => {
    const fileKey = randomBytes(32);
    const plaintext = plaintextOf(12 * SEGMENT + 5);
    const sealed = sealOf(plaintext, fileKey);
    const headerLength = sealed.length - (12 * FULL + 5 + TAG_LENGTH);
    flip(sealed, headerLength + FULL + 100); // segment 1: the second run of one segment
    const sink = memorySink();
    const before = pool.completedTasks;
    // The pool has booted and has room for three tasks, so the first three runs (one segment each) are its.
    const error = await unsealArchive({ source: new FileSource(await fileOf(sealed)), fileKey, sink, ...through, parallelThreshold: 0, taskSize: FULL, crypto }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).exitCode).toBe(4);
    expect((error as Error).message).toBe('invalid segment tag in segment 1');
    if (countsPool) expect(pool.completedTasks - before).toBeGreaterThanOrEqual(2);
    expect(sink.bytes().equals(plaintext.subarray(0, SEGMENT))).toBe(true);
    expect(sink.state).toBe('aborted');
  });

  it('the same damage with a file output: nothing at the output path', async () => {
    const fileKey = randomBytes(32);
    const sealed = sealOf(plaintextOf(12 * SEGMENT + 5), fileKey);
    const headerLength = sealed.length - (12 * FULL + 5 + TAG_LENGTH);
    flip(sealed, headerLength + 2 * FULL + 7);
    const output = join(dir, `damaged-${counter++}.out`);
    const error = await unsealArchive({ source: new FileSource(await fileOf(sealed)), fileKey, sink: await openFileSink(output), ...through, parallelThreshold: 0, taskSize: FULL, crypto }).catch(
      (e: unknown) => e,
    );
    expect((error as IntegrityError).exitCode).toBe(4);
    expect((error as Error).message).toBe('invalid segment tag in segment 2');
    expect(existsSync(output)).toBe(false);
  });

  it('unseal of a file that shrank while read: exit 5 (StorageError), sink aborted', async () => {
    const fileKey = randomBytes(32);
    const sealed = sealOf(plaintextOf(6 * SEGMENT + 3), fileKey);
    const sink = memorySink();
    // One more full segment than the file holds: a length the format allows, so only the reads can tell.
    const error = await unsealArchive({ source: new ShrunkFile(await fileOf(sealed), FULL), fileKey, sink, ...through, parallelThreshold: 0, taskSize: FULL, crypto }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).exitCode).toBe(5);
    expect((error as Error).message).toContain('shrank while it was read');
    expect(sink.state).toBe('aborted');
  });

  it('seal of a file that shrank while read: exit 5 (StorageError), sink aborted', async () => {
    const sink = memorySink();
    const error = await sealArchive({
      source: new ShrunkFile(await fileOf(plaintextOf(6 * SEGMENT + 3)), 3 * SEGMENT),
      recipients: [createPublicKey(alice)],
      sink,
      ...through,
      parallelThreshold: 0,
      taskSize: SEGMENT,
      crypto,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).exitCode).toBe(5);
    expect(sink.state).toBe('aborted');
  });
});

/** A memory sink whose every write takes `ms` milliseconds: output slower than the crypto. */
function slowSink(ms: number, onWrite?: (writes: number) => void): MemorySink {
  const sink = memorySink();
  const write = sink.write.bind(sink);
  let writes = 0;
  sink.write = async (chunk: Uint8Array) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    await write(chunk);
    writes += 1;
    onWrite?.(writes);
  };
  return sink;
}

describe('the native ring with output slower than the crypto (the libuv thread waits for free slots)', () => {
  const crypto: CryptoBackendName = 'native';
  // 48 runs of one segment through 16 slots: the ring fills and is refilled as the runs are written.
  const plaintext = plaintextOf(48 * SEGMENT - 7);

  it('seal and unseal give the bytes back, in order', async () => {
    const sealedSink = slowSink(2);
    await sealArchive({ source: new FileSource(await fileOf(plaintext)), recipients: [createPublicKey(alice)], sink: sealedSink, parallelThreshold: 0, taskSize: SEGMENT, crypto });
    expect(sealedSink.state).toBe('committed');
    expect(unsealBuffer(sealedSink.bytes(), { fileKey: (header) => unwrapFileKeySync(header.recipients, [alice]) }).equals(plaintext)).toBe(true);
    const fileKey = randomBytes(32);
    const sink = slowSink(2);
    const report = await unsealArchive({ source: new FileSource(await fileOf(sealOf(plaintext, fileKey))), fileKey, sink, parallelThreshold: 0, taskSize: FULL, crypto });
    expect(report).toMatchObject({ parallel: true, crypto, segments: 48 });
    expect(sink.bytes().equals(plaintext)).toBe(true);
  });

  it('a sink that never waits (stdout to a file) still lets an abort in: the event loop runs once a lap of the ring', async () => {
    const fileKey = randomBytes(32);
    const whole = plaintextOf(64 * SEGMENT);
    const controller = new AbortController();
    const sink = memorySink();
    const write = sink.write.bind(sink);
    let first = true;
    sink.write = (chunk: Uint8Array) => {
      // Queued behind nothing but the event loop: it runs only when the body yields to it.
      if (first) setImmediate(() => controller.abort());
      first = false;
      return write(chunk);
    };
    const error = await unsealArchive({ source: new FileSource(await fileOf(sealOf(whole, fileKey))), fileKey, sink, signal: controller.signal, parallelThreshold: 0, taskSize: FULL, crypto }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(sink.state).toBe('aborted');
    // 64 runs of one segment: the abort is seen after the first lap of 16, not after the whole body.
    expect(sink.bytes().length).toBeLessThan(whole.length);
  });

  it('cancelled while the ring is full: AbortError, sink aborted, the second thread stopped', async () => {
    const fileKey = randomBytes(32);
    const sealed = sealOf(plaintext, fileKey);
    const controller = new AbortController();
    const sink = slowSink(2, (writes) => writes === 3 && controller.abort());
    const error = await unsealArchive({ source: new FileSource(await fileOf(sealed)), fileKey, sink, signal: controller.signal, parallelThreshold: 0, taskSize: FULL, crypto }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(sink.state).toBe('aborted');
    expect(sink.bytes().equals(plaintext.subarray(0, 3 * SEGMENT))).toBe(true);
  });
});

function flip(bytes: Buffer, at: number): void {
  bytes.writeUInt8(bytes.readUInt8(at) ^ 1, at);
}
