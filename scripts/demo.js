// `npm run demo`: the main job end to end on embedded defaults, on this machine only.
// 1. a security officer creates the key pair and certificate;
// 2. "Vonage" encrypts a sample archive with it (our `encrypt`, byte-compatible with Vonage's format)
//    and uploads it to an S3 emulator (s3rver, loopback) as <apiKey>/<archiveId>/archive.mp4;
// 3. operations list the bucket, then pull, decrypt and verify the archive with the CLI.
// Each step prints the command a user would type against real S3.
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import S3rver from 's3rver';

// The AWS SDK prints a notice about future Node versions on import; it is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'bin', 'archive-crypt.js');
const sample = join(root, 'test', 'fixtures', 'media', 'sample.ts');
const bucket = 'demo-archives';
const apiKey = '47000000';
const archiveId = randomUUID();

const work = await mkdtemp(join(tmpdir(), 'archive-crypt-demo-'));
const s3dir = await mkdtemp(join(tmpdir(), 'archive-crypt-demo-s3-'));
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir });
const { port } = await server.run();
const endpoint = `http://127.0.0.1:${port}`;
// s3rver's fixed credentials; the passphrase protects the demo key only for this run.
const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  DEMO_PASSPHRASE: randomUUID(),
};

function step(title) {
  process.stdout.write(`\n\x1b[1m== ${title}\x1b[0m\n`);
}

/** Runs the CLI, echoing the command line and its output; stops the demo on failure. */
function archiveCrypt(args, shown = args) {
  process.stdout.write(`$ archive-crypt ${shown.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`archive-crypt ${args[0]} exited with ${code}`))));
  });
}

try {
  step('1. security officer: create the key pair and the certificate to register with Vonage');
  const keys = join(work, 'keys');
  await archiveCrypt(['keys', 'generate', '--out', keys, '--subject', 'CN=Demo archive key,O=Example', '--passphrase-env', 'DEMO_PASSPHRASE']);

  step('2. Vonage (simulated): encrypt an archive for that certificate and upload it to S3');
  const encrypted = join(work, 'archive.mp4');
  const passwordFile = join(work, 'password.txt');
  await archiveCrypt([
    'encrypt', sample, '--cert', join(keys, 'archive-certificate.pem'), '--output', encrypted, '--password-out', passwordFile,
  ]);
  const body = await readFile(encrypted);
  const s3 = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const objectKey = `${apiKey}/${archiveId}/archive.mp4`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey, Body: body }));
  s3.destroy();
  await rm(encrypted);
  const archiveJson = join(work, 'archive.json');
  const archive = {
    id: archiveId,
    status: 'uploaded',
    projectId: Number(apiKey),
    size: body.length,
    sha256sum: createHash('sha256').update(body).digest('base64'),
    password: (await readFile(passwordFile, 'utf8')).trim(),
    outputMode: 'composed',
    url: null,
  };
  await writeFile(archiveJson, `${JSON.stringify(archive, null, 2)}\n`);
  process.stdout.write(`uploaded s3://${bucket}/${objectKey} (${body.length} bytes) to the S3 emulator at ${endpoint}\n`);
  process.stdout.write(`the archive JSON Vonage would return (GET /v2/project/${apiKey}/archive/${archiveId}) is in ${archiveJson}\n`);

  step('3. operations: list the archives in the bucket');
  await archiveCrypt(['list', `s3://${bucket}`, '--s3-endpoint', endpoint]);

  step('4. operations: pull, decrypt and verify (streaming; the plaintext exists only at --output)');
  const output = join(work, `${archiveId}.ts`);
  await archiveCrypt([
    'decrypt', `s3://${bucket}/${objectKey}`, '--s3-endpoint', endpoint, '--key', join(keys, 'archive-private-key.pem'),
    '--passphrase-env', 'DEMO_PASSPHRASE', '--archive-json', archiveJson, '--output', output,
  ]);
  const same = Buffer.compare(await readFile(output), await readFile(sample)) === 0;
  process.stdout.write(`decrypted file identical to the original sample: ${same ? 'yes' : 'NO'}\n`);
  if (!same) throw new Error('the decrypted archive differs from the sample');

  step('Against real S3 you would type');
  process.stdout.write(
    [
      'archive-crypt keys generate --out ./keys --subject "CN=Archive key,O=Example"',
      `archive-crypt list s3://<your-bucket> --api-key <apiKey>`,
      'archive-crypt decrypt s3://<your-bucket>/<apiKey>/<archiveId>/archive.mp4 \\',
      '    --key ./keys/archive-private-key.pem --archive-json archive.json --output archive.ts',
      '',
    ].join('\n'),
  );
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await new Promise((resolve) => server.close(resolve));
  await rm(work, { recursive: true, force: true });
  await rm(s3dir, { recursive: true, force: true });
}
