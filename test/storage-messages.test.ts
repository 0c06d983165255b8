/**
 * An access-denied answer says what to check — the credentials, the bucket or container policy, the
 * region or endpoint — and never "Unknown": a HEAD answer has no body, so no error code, and the SDK's
 * placeholder used to reach the message. Real emulators with wrong credentials (s3rver, azurite), the
 * CLI in process; the S3 credentials come through the config file's variable names, so the process
 * environment is left alone.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { azuriteConnectionString, createBucket, createContainer, putBlob, putS3Object, uniqueName } from './support/emulators.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture } from './support/vonage-fixture.js';

const bucket = uniqueName('denied');
const container = uniqueName('denied');
const objectKey = `47000000/${vonageFixture.archiveId}/archive.mp4`;
let dir: string;
let key: string;
let config: string;

beforeAll(async () => {
  dir = await tempDir();
  key = await privateKeyCopy(dir);
  const body = await readFile(vonageFixture.archive);
  await createBucket(bucket);
  await putS3Object(bucket, objectKey, body);
  await createContainer(container);
  await putBlob(container, objectKey, body);
  config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ storage: { s3: { accessKeyIdEnv: 'TEST_S3_KEY_ID', secretAccessKeyEnv: 'TEST_S3_SECRET' } } }));
});

const wrongS3 = () => ({ ...passEnv, TEST_S3_KEY_ID: 'NOBODY', TEST_S3_SECRET: 'wrong-secret', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: inject('s3Endpoint') });
const wrongAzure = () => ({ ...passEnv, AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(inject('azureBlobEndpoint'), Buffer.alloc(64, 3).toString('base64')) });
const decrypt = (source: string) => ['decrypt', source, '--key', key, ...passArgs, '--archive-json', vonageFixture.archiveJson, '--retries', '0'];

const s3Advice = /; check the AWS credentials \(AWS_PROFILE or AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY\), that the bucket policy and IAM policy allow s3:GetObject and s3:ListBucket, and the endpoint \(--s3-endpoint or AWS_ENDPOINT_URL_S3\)\n$/;
const azureAdvice = /; check the account key or SAS in AZURE_STORAGE_CONNECTION_STRING \(a SAS needs read and list\), the container's access policy, and the account and endpoint the connection string names\n$/;

describe('access denied: what to check', () => {
  it.each([
    ['decrypt from S3 (a HEAD: no error body)', () => ['--config', config, ...decrypt(`s3://${bucket}/${objectKey}`)], wrongS3, s3Advice],
    ['list an S3 bucket (a GET with an error body)', () => ['--config', config, 'list', `s3://${bucket}`, '--retries', '0'], wrongS3, s3Advice],
    ['decrypt from Azure', () => decrypt(`azure://${container}/${objectKey}`), wrongAzure, azureAdvice],
    ['list an Azure container', () => ['list', `azure://${container}`, '--retries', '0'], wrongAzure, azureAdvice],
  ])('%s: exit 5, one line', async (_name, args, env, advice) => {
    const result = await runCliInProcess(args(), env());
    expect(result.code).toBe(5);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toHaveLength(2);
    expect(result.stderr).toMatch(/^archive-crypt: (s3|azure):\/\/\S+: access denied \(403( [A-Za-z]+)?\)/);
    expect(result.stderr).toMatch(advice);
    expect(result.stderr).not.toMatch(/Unknown|wrong-secret|AccountKey=/);
  });
});
