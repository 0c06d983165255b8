/**
 * Fault class: many retries at once. Sixteen ranged GETs of one object, and several objects, all on
 * one caller's AbortSignal, each answered 503 a few times before the store recovers: every byte
 * arrives, and no `MaxListenersExceededWarning` is emitted (each waiting retry used to add an
 * 'abort' listener to the shared signal; eleven at once made Node warn on stderr).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openSource } from '../src/storage/open.js';
import { readParallel } from '../src/storage/parallel.js';
import { collect, createBucket, putS3Object, s3Options, uniqueName } from './support/emulators.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';

const bucket = uniqueName('fault-listeners');
const objects = ['a', 'b', 'c'].map((name) => ({ key: `many/${name}`, body: randomBytes(1024 * 1024 + 17) }));
let proxy: FaultProxy;
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);

beforeAll(async () => {
  await createBucket(bucket);
  await Promise.all(objects.map((o) => putS3Object(bucket, o.key, o.body)));
  // The first 60 downloads fail with 503: every part of every object waits in a retry at least once.
  let failures = 0;
  proxy = await startFaultProxy(inject('s3Endpoint'), ({ method }) => (method === 'GET' && failures++ < 60 ? { kind: 'status', status: 503 } : undefined));
  process.on('warning', onWarning);
});

afterAll(async () => {
  process.off('warning', onWarning);
  await proxy.close();
});

describe('retries at high concurrency on one signal', () => {
  it('deliver every byte and emit no MaxListenersExceededWarning', async () => {
    const controller = new AbortController();
    const options = { ...s3Options(proxy.url), retry: { retries: 8, baseDelayMs: 20, maxDelayMs: 80, idleTimeoutMs: 5_000 } };
    const sources = await Promise.all(objects.map((o) => openSource(`s3://${bucket}/${o.key}`, options)));
    try {
      const read = await Promise.all(sources.map((source) => collect(readParallel(source, { partSize: 64 * 1024, concurrency: 16, signal: controller.signal }))));
      read.forEach((bytes, i) => expect(bytes.equals(objects[i]?.body ?? Buffer.alloc(0))).toBe(true));
    } finally {
      for (const source of sources) await source.close?.();
    }
    expect(proxy.injected.status).toBe(60);
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  });
});
