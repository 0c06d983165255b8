// @ts-check
// The benchmarks' object store: s3rver on 127.0.0.1 in this process (a fresh folder, removed on
// close), optionally behind the paced proxy (bench/paced-proxy.js) so that it behaves like a remote
// store. Shared by bench/run.js and bench/service.js.
//
//   const store = await startBenchStore({ directory: 'bench/work/s3rver', paced: { bytesPerSecond: 40e6, firstByteLatencyMs: 20 } });
//   await store.createBucket('bench'); await store.put('bench', 'a/b/archive.mp4', '/path/to/file');
//   spawn('node', ['bin/archive-crypt.js', 'decrypt', 's3://bench/a/b/archive.mp4', …], { env: { ...process.env, ...store.pacedEnv } });
//   await store.close();
import { readFileSync, rmSync } from 'node:fs';
import { startPacedProxy } from './paced-proxy.js';

/**
 * @param {{ directory: string, paced?: { bytesPerSecond?: number, firstByteLatencyMs?: number } }} options
 */
export async function startBenchStore({ directory, paced }) {
  // The AWS SDK prints a notice about future Node versions on import; it is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { default: S3rver } = await import('s3rver');
  const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  rmSync(directory, { recursive: true, force: true });
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: true });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const proxy = paced ? await startPacedProxy({ target: endpoint, ...paced }) : undefined;
  // Uploads go straight to s3rver. No flexible checksums: s3rver does not understand aws-chunked trailers.
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  /** @param {string} url */
  const envFor = (url) => ({
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: url,
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  return {
    endpoint,
    /** Environment for a child process that reads s3rver directly. */
    env: envFor(endpoint),
    /** The paced endpoint (undefined without `paced`). */
    pacedEndpoint: proxy?.url,
    /** Environment for a child process that reads through the paced proxy. */
    pacedEnv: proxy ? envFor(proxy.url) : undefined,
    proxy,
    client,
    /** @param {string} bucket */
    createBucket: (bucket) => client.send(new CreateBucketCommand({ Bucket: bucket })),
    /** Single-part upload, so the ETag is the object's MD5 (which the reader then verifies). @param {string} bucket @param {string} key @param {string} path */
    put: (bucket, key, path) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(path) })),
    async close() {
      client.destroy();
      await proxy?.close();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
