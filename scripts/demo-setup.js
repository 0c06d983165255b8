// What `npm run demo` (scripts/demo.js) and `npm run demo:service` (scripts/demo-service.js) share:
// a work folder, an S3 emulator (s3rver) on a loopback port, the environment the CLI runs with, and
// the printing of steps and of the commands a user would type. Loopback only; everything is removed
// by close().
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import S3rver from 's3rver';
import { shellQuote } from './shell-quote.js';

// The AWS SDK prints a notice about future Node versions on import; it is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');

export const root = fileURLToPath(new URL('..', import.meta.url));
export const cli = join(root, 'bin', 'archive-crypt.js');
export const sample = join(root, 'test', 'fixtures', 'media', 'sample.ts');

/** Starts the demo's S3 emulator in a fresh work folder (named after `name`). */
export async function startDemo(name) {
  const work = await mkdtemp(join(tmpdir(), `archive-crypt-${name}-`));
  const s3dir = await mkdtemp(join(tmpdir(), `archive-crypt-${name}-s3-`));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  // s3rver's fixed credentials; the passphrase protects the demo keys only for this run.
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', DEMO_PASSPHRASE: randomUUID() };
  const s3 = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  return {
    work,
    endpoint,
    env,
    /** @param {string} bucket */
    createBucket: (bucket) => s3.send(new CreateBucketCommand({ Bucket: bucket })),
    /** @param {string} bucket @param {string} key @param {Buffer} body */
    putObject: (bucket, key, body) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })),
    /** Runs the CLI, echoing the command line quoted for a shell (paste it and it runs as is) and its output; rejects on failure. */
    archiveCrypt(args) {
      process.stdout.write(`$ ${shellQuote(['archive-crypt', ...args])}\n`);
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`archive-crypt ${args[0]} exited with ${code}`))));
      });
    },
    async close() {
      s3.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(work, { recursive: true, force: true });
      await rm(s3dir, { recursive: true, force: true });
    },
  };
}

/**
 * The archive item Vonage returns (GET …/archive/<id>) and posts to the callback once `body`, its
 * encrypted archive, is uploaded; `passwordFile` holds the password `encrypt --password-out` wrote.
 */
export async function uploadedArchive(archiveId, apiKey, body, passwordFile) {
  return {
    id: archiveId,
    status: 'uploaded',
    projectId: Number(apiKey),
    size: body.length,
    sha256sum: createHash('sha256').update(body).digest('base64'),
    password: (await readFile(passwordFile, 'utf8')).trim(),
    outputMode: 'composed',
    url: null,
  };
}

/** A step heading. */
export function step(title) {
  process.stdout.write(`\n\x1b[1m== ${title}\x1b[0m\n`);
}
