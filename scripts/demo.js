// `npm run demo`: the main job end to end on embedded defaults, on this machine only.
// 1. a security officer creates the key pair and certificate;
// 2. "Vonage" encrypts a sample archive with it (our `encrypt`, byte-compatible with Vonage's format)
//    and uploads it to an S3 emulator (s3rver, loopback) as <apiKey>/<archiveId>/archive.mp4;
// 3. operations list the bucket, then pull, decrypt and verify the archive with the CLI.
// Each step prints the command a user would type against real S3.
import { createHash, randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sample, startDemo, step } from './demo-setup.js';

const bucket = 'demo-archives';
const apiKey = '47000000';
const archiveId = randomUUID();
const demo = await startDemo('demo');
const { work, endpoint, archiveCrypt } = demo;

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
  await demo.createBucket(bucket);
  const objectKey = `${apiKey}/${archiveId}/archive.mp4`;
  await demo.putObject(bucket, objectKey, body);
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
  await demo.close();
}
