// `npm run demo`: the main job end to end on embedded defaults, on this machine only.
// 1. a security officer creates the key pair and certificate;
// 2. "Vonage" encrypts a sample archive with it (our `encrypt`, byte-compatible with Vonage's format)
//    and uploads it to an S3 emulator (s3rver, loopback) as <apiKey>/<archiveId>/archive.mp4;
// 3. operations list the bucket, then pull, decrypt and verify the archive with the CLI.
// Each step prints the command it runs, quoted for a POSIX shell (paste it and it runs as is), and the
// end shows the same commands against real S3 or Azure with the credentials they need set up.
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sample, startDemo, step, uploadedArchive } from './demo-setup.js';
import { shellQuote } from './shell-quote.js';

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
  await writeFile(archiveJson, `${JSON.stringify(await uploadedArchive(archiveId, apiKey, body, passwordFile), null, 2)}\n`);
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

  step('Against real S3 or Azure: the same commands, with your own credentials');
  process.stdout.write(`${realStorageRecipe()}\n`);
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await demo.close();
}

/**
 * What a user types against real storage. Every secret is set up through an environment variable
 * (or a prompt); no value of one is printed or put on a command line.
 */
function realStorageRecipe() {
  const keyFile = './keys/archive-private-key.pem';
  const passphrase = ['--passphrase-env', 'ARCHIVE_KEY_PASSPHRASE'];
  const decryptFlags = shellQuote(['--key', keyFile, ...passphrase, '--archive-json', 'archive.json', '--output', 'archive.ts']);
  return [
    '# the key passphrase (bash, zsh): typed, not echoed, kept out of the shell history',
    'read -rs ARCHIVE_KEY_PASSPHRASE && export ARCHIVE_KEY_PASSPHRASE',
    shellQuote(['archive-crypt', 'keys', 'generate', '--out', './keys', '--subject', 'CN=Archive key,O=Example Ltd', ...passphrase]),
    '# register the printed "certificate" value with Vonage: archive-crypt vonage storage set --help',
    '',
    "# Amazon S3: the AWS SDK's usual credentials, either a profile (~/.aws/config, SSO) …",
    'export AWS_PROFILE=archive-reader AWS_REGION=eu-west-1',
    '# … or keys from the IAM console (AWS_SESSION_TOKEN too for temporary ones):',
    '#   read -rs AWS_SECRET_ACCESS_KEY && export AWS_ACCESS_KEY_ID=AKIA… AWS_SECRET_ACCESS_KEY AWS_REGION=eu-west-1',
    '# the policy they need: archive-crypt vonage storage policy --help',
    'export BUCKET=my-archives API_KEY=47000000 ARCHIVE_ID=b40ef09b-3811-4726-b508-e41a0f96c68f',
    'archive-crypt list "s3://$BUCKET" --api-key "$API_KEY"',
    `archive-crypt decrypt "s3://$BUCKET/$API_KEY/$ARCHIVE_ID/archive.mp4" ${decryptFlags}`,
    '',
    '# Azure Blob Storage: the connection string of the storage account (Access keys), or one with a SAS',
    'read -rs AZURE_STORAGE_CONNECTION_STRING && export AZURE_STORAGE_CONNECTION_STRING',
    'export CONTAINER=archives',
    'archive-crypt list "azure://$CONTAINER" --api-key "$API_KEY"',
    `archive-crypt decrypt "azure://$CONTAINER/$API_KEY/$ARCHIVE_ID/archive.mp4" ${decryptFlags}`,
  ].join('\n');
}
