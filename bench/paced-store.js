// @ts-check
// The benchmarks' object store: s3rver on 127.0.0.1 (a fresh folder, removed on close), optionally
// behind the paced proxy (bench/paced-proxy.js) so that it behaves like a remote store; in this
// process, or (`processes: true`) s3rver and the proxy each in a process of their own
// (bench/store-process.js), so that the store is not one event loop shared with the benchmark.
// Shared by bench/run.js and bench/service.js.
//
//   const store = await startBenchStore({ directory: 'bench/work/s3rver', paced: { bytesPerSecond: 40e6, firstByteLatencyMs: 20 } });
//   await store.createBucket('bench'); await store.put('bench', 'a/b/archive.mp4', '/path/to/file');
//   spawn('node', ['bin/archive-crypt.js', 'decrypt', 's3://bench/a/b/archive.mp4', …], { env: { ...process.env, ...store.pacedEnv } });
//   await store.close();
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startPacedProxy } from './paced-proxy.js';

/**
 * @param {{ directory: string, paced?: { bytesPerSecond?: number, firstByteLatencyMs?: number }, processes?: boolean }} options
 */
export async function startBenchStore({ directory, paced, processes = false }) {
  // The AWS SDK prints a notice about future Node versions on import; it is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  rmSync(directory, { recursive: true, force: true });
  /** @type {{ url: string, close: () => Promise<unknown> }[]} */
  const parts = [];
  if (processes) {
    parts.push(await startStoreProcess(['s3rver', directory]));
    if (paced) {
      const url = /** @type {{ url: string }} */ (parts[0]).url;
      parts.push(await startStoreProcess(['proxy', url, String(paced.bytesPerSecond ?? 40e6), String(paced.firstByteLatencyMs ?? 20)]));
    }
  } else {
    const { default: S3rver } = await import('s3rver');
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: true });
    const { port } = await server.run();
    parts.push({ url: `http://127.0.0.1:${port}`, close: () => server.close() });
    if (paced) parts.push(await startPacedProxy({ target: `http://127.0.0.1:${port}`, ...paced }));
  }
  const endpoint = /** @type {{ url: string }} */ (parts[0]).url;
  const proxy = parts[1];
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
    /** Where the store runs, for the results' notes. */
    where: processes ? 's3rver and the proxy each in a process of their own' : 'in the bench process',
    client,
    /** @param {string} bucket */
    createBucket: (bucket) => client.send(new CreateBucketCommand({ Bucket: bucket })),
    /** Single-part upload, so the ETag is the object's MD5 (which the reader then verifies). @param {string} bucket @param {string} key @param {string} path */
    put: (bucket, key, path) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(path) })),
    async close() {
      client.destroy();
      for (const part of parts.reverse()) await part.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * One piece of the store in a child process (bench/store-process.js), stopped by SIGTERM.
 * @param {string[]} args
 * @returns {Promise<{ url: string, close: () => Promise<unknown> }>}
 */
function startStoreProcess(args) {
  const script = fileURLToPath(new URL('./store-process.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.once('exit', (code) => reject(new Error(`store process ${args[0]} exited with ${code}`)));
    createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).once('line', (line) => {
      const { url } = JSON.parse(line);
      const close = () => {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        return exited;
      };
      resolve({ url, close });
    });
  });
}
