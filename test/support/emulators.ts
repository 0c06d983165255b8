/**
 * Test-side access to the emulators started by global-setup: create buckets and containers, upload
 * objects, and build the options/env with which our code reaches them.
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { SourceOptions } from '../../src/storage/open.js';
import { azuriteAccount, s3Credentials } from '../global-setup.js';

export { azuriteAccount, s3Credentials };

/** A fresh bucket/container name per test file, so files can run in parallel. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Options that reach s3rver (directly, or through a proxy at `endpoint`), with fast retries. */
export function s3Options(
  endpoint = inject('s3Endpoint'),
  credentials: { accessKeyId: string; secretAccessKey: string } = s3Credentials,
): SourceOptions {
  return { s3: { endpoint, region: 'us-east-1', credentials }, retry: fastRetry };
}

/** Options that reach azurite with the given connection string. */
export function azureOptions(connectionString = inject('azureConnectionString')): SourceOptions {
  return { azure: { connectionString }, retry: fastRetry };
}

/** Retries quickly so that fault tests stay fast; the schedule matters, not the delays. */
export const fastRetry = { retries: 6, baseDelayMs: 5, maxDelayMs: 50, idleTimeoutMs: 2_000 };

/** Environment for the CLI to reach s3rver (the SDK's own variables). */
export function s3Env(endpoint = inject('s3Endpoint')): NodeJS.ProcessEnv {
  return {
    AWS_ACCESS_KEY_ID: s3Credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3Credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

export function s3AdminClient(endpoint = inject('s3Endpoint')): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: s3Credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function createBucket(name: string): Promise<void> {
  await s3AdminClient().send(new CreateBucketCommand({ Bucket: name }));
}

export async function putS3Object(bucket: string, key: string, body: Uint8Array): Promise<void> {
  await s3AdminClient().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export function azureService(connectionString = inject('azureConnectionString')): BlobServiceClient {
  return BlobServiceClient.fromConnectionString(connectionString);
}

export async function createContainer(name: string): Promise<void> {
  await azureService().getContainerClient(name).create();
}

export async function putBlob(container: string, blob: string, body: Uint8Array): Promise<void> {
  await azureService().getContainerClient(container).getBlockBlobClient(blob).uploadData(body);
}

/** A read-only SAS URL for one blob, optionally through another base (a fault proxy). */
export function blobSasUrl(container: string, blob: string, base = inject('azureBlobEndpoint')): string {
  const sas = generateBlobSASQueryParameters(
    { containerName: container, blobName: blob, permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 3_600_000) },
    new StorageSharedKeyCredential(azuriteAccount.name, azuriteAccount.key),
  ).toString();
  return `${base}/${container}/${blob.split('/').map(encodeURIComponent).join('/')}?${sas}`;
}

/** What a proxy in front of azurite forwards to: its origin (clients keep the account path, `azuriteThrough`). */
export function azuriteOrigin(): string {
  return new URL(inject('azureBlobEndpoint')).origin;
}

/** Azurite's connection string through a proxy at `proxyUrl` (that proxy forwarding to `azuriteOrigin()`). */
export function azuriteThrough(proxyUrl: string): string {
  return azuriteConnectionString(`${proxyUrl}${new URL(inject('azureBlobEndpoint')).pathname}`);
}

/** Azurite's connection string pointing at another blob endpoint (a fault proxy, a dead port). */
export function azuriteConnectionString(blobEndpoint: string, key: string = azuriteAccount.key): string {
  return `DefaultEndpointsProtocol=http;AccountName=${azuriteAccount.name};AccountKey=${key};BlobEndpoint=${blobEndpoint};`;
}

/** Collects an async iterable of chunks into one buffer. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}
