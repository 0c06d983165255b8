/**
 * The object-store sinks against the real emulators: nothing is visible before commit(), commit()
 * makes exactly the written bytes visible, abort() leaves nothing, existing objects are refused
 * unless overwrite is asked for.
 */
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OutputError, StorageError } from '../src/errors.js';
import { openSink } from '../src/storage/sink.js';
import {
  azureOptions,
  azureService,
  createBucket,
  createContainer,
  putBlob,
  putS3Object,
  s3AdminClient,
  s3Options,
  uniqueName,
} from './support/emulators.js';

const bucket = uniqueName('sinks');
const container = uniqueName('sinks');

async function s3Exists(key: string): Promise<boolean> {
  try {
    await s3AdminClient().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

async function s3Bytes(key: string): Promise<Buffer> {
  const object = await s3AdminClient().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

const blobClient = (name: string) => azureService().getContainerClient(container).getBlockBlobClient(name);

async function writeInChunks(sink: { write(chunk: Uint8Array): Promise<void> }, data: Buffer, chunkSize = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.length; offset += chunkSize) await sink.write(data.subarray(offset, offset + chunkSize));
}

describe('object-store sinks', () => {
  // 11 MiB: three parts of S3's 5 MiB minimum, so the multipart path (not the single PUT) runs.
  const large = randomBytes(11 * 1024 * 1024);
  const small = randomBytes(1000);

  it.each([
    ['multipart (3 parts)', large],
    ['single part', small],
    ['empty', Buffer.alloc(0)],
  ])('s3: %s is invisible until commit, then exactly the bytes written', async (_label, data) => {
    await createBucket(bucket).catch(() => undefined);
    const key = `out/${randomBytes(4).toString('hex')}.sealed`;
    const sink = await openSink(`s3://${bucket}/${key}`, { ...s3Options(), partSize: 5 * 1024 * 1024 });
    await writeInChunks(sink, data);
    expect(await s3Exists(key)).toBe(false);
    await sink.commit();
    expect((await s3Bytes(key)).equals(data)).toBe(true);
  });

  it('s3: abort after parts were uploaded leaves no object', async () => {
    await createBucket(bucket).catch(() => undefined);
    const key = `out/aborted-${randomBytes(4).toString('hex')}`;
    const sink = await openSink(`s3://${bucket}/${key}`, { ...s3Options(), partSize: 5 * 1024 * 1024 });
    await writeInChunks(sink, large);
    await sink.abort();
    expect(await s3Exists(key)).toBe(false);
    await expect(sink.commit()).rejects.toThrow(/already aborted/);
  });

  it('s3: an existing object is refused (exit 6) unless overwrite is set; overwrite replaces it on commit', async () => {
    await createBucket(bucket).catch(() => undefined);
    const key = `out/existing-${randomBytes(4).toString('hex')}`;
    await putS3Object(bucket, key, Buffer.from('old'));
    const refused = await openSink(`s3://${bucket}/${key}`, s3Options()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OutputError);
    expect((refused as OutputError).exitCode).toBe(6);
    const sink = await openSink(`s3://${bucket}/${key}`, { ...s3Options(), overwrite: true });
    await sink.write(Buffer.from('new'));
    expect((await s3Bytes(key)).toString()).toBe('old');
    await sink.commit();
    expect((await s3Bytes(key)).toString()).toBe('new');
  });

  it('s3: a missing bucket fails the commit as a storage error (exit 5)', async () => {
    const sink = await openSink(`s3://${uniqueName('nobucket')}/k`, s3Options());
    await sink.write(Buffer.from('x'));
    const error = await sink.commit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
  });

  it.each([
    ['several blocks', randomBytes(300 * 1024)],
    ['empty', Buffer.alloc(0)],
  ])('azure: %s are invisible until the block list is committed', async (_label, data) => {
    await createContainer(container).catch(() => undefined);
    const name = `out/${randomBytes(4).toString('hex')}.sealed`;
    const sink = await openSink(`azure://${container}/${name}`, { ...azureOptions(), partSize: 64 * 1024, concurrency: 3 });
    await writeInChunks(sink, data, 50_000);
    expect(await blobClient(name).exists()).toBe(false);
    await sink.commit();
    expect((await blobClient(name).downloadToBuffer()).equals(data)).toBe(true);
  });

  it('azure: abort leaves no blob; an existing blob is refused unless overwrite is set', async () => {
    await createContainer(container).catch(() => undefined);
    const name = `out/aborted-${randomBytes(4).toString('hex')}`;
    const aborted = await openSink(`azure://${container}/${name}`, { ...azureOptions(), partSize: 64 * 1024 });
    await writeInChunks(aborted, randomBytes(200 * 1024));
    await aborted.abort();
    expect(await blobClient(name).exists()).toBe(false);

    await putBlob(container, name, Buffer.from('old'));
    await expect(openSink(`azure://${container}/${name}`, azureOptions())).rejects.toBeInstanceOf(OutputError);
    const sink = await openSink(`azure://${container}/${name}`, { ...azureOptions(), overwrite: true });
    await sink.write(Buffer.from('new'));
    expect((await blobClient(name).downloadToBuffer()).toString()).toBe('old');
    await sink.commit();
    expect((await blobClient(name).downloadToBuffer()).toString()).toBe('new');
  });
});
