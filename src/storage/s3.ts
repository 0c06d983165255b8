/**
 * Amazon S3 and S3-compatible stores through @aws-sdk/client-s3. Loaded lazily by `open.ts`.
 * Credentials and region come from the SDK's standard chain; a custom endpoint (option or
 * `AWS_ENDPOINT_URL_S3`) switches to path-style addressing, which S3-compatible stores expect.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { StorageError, UsageError } from '../errors.js';
import { classifyStatus, type FailureHints } from './failure.js';
import { RemoteSource, type RangeAnswer } from './remote.js';
import { classifyNetworkError, withRetries, type Failure, type RetryPolicy } from './retry.js';
import type { DownloadOptions } from './parallel.js';
import type { ListedObject, ObjectStore, Source, SourceInfo } from './source.js';

export interface S3Options {
  /** e.g. `http://127.0.0.1:9000` for MinIO; defaults to `AWS_ENDPOINT_URL_S3`, then AWS itself. */
  endpoint?: string;
  /** Defaults to the SDK's chain (AWS_REGION, profile); `us-east-1` with a custom endpoint. */
  region?: string;
  /** Explicit credentials (tests, embedding); otherwise the SDK's standard chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Forces path-style URLs; on by default when an endpoint is set. */
  forcePathStyle?: boolean;
}

/** A client plus what error messages need to know about how it was configured. */
export interface S3Connection {
  client: S3Client;
  /** True when talking to an S3-compatible store rather than AWS (changes what we tell users to check). */
  customEndpoint: boolean;
  policy: RetryPolicy;
}

/**
 * The static key pair of `env` (the run's environment, which the CLI context may give in place of
 * the process's), read as the SDK's own chain would read it from process.env: first, unless a
 * profile is named (AWS_PROFILE then wins, as in the SDK). Undefined: the SDK's standard chain.
 */
function environmentCredentials(env: NodeJS.ProcessEnv): S3Options['credentials'] {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken, AWS_PROFILE: profile } = env;
  if (profile || !accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** Builds a client with the SDK's retries off (ours apply) and no automatic checksum handling. */
export function connectS3(options: S3Options, policy: RetryPolicy, env: NodeJS.ProcessEnv = process.env): S3Connection {
  const endpoint = options.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (endpoint !== undefined && !/^https?:\/\/[^/]/i.test(endpoint)) {
    const origin = options.endpoint !== undefined ? '--s3-endpoint' : env.AWS_ENDPOINT_URL_S3 !== undefined ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
    throw new UsageError(`${origin} must be a URL such as https://s3.example.com or http://127.0.0.1:9000`);
  }
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined);
  const credentials = options.credentials ?? environmentCredentials(env);
  const client = new S3Client({
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(credentials ? { credentials } : {}),
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    followRegionRedirects: true,
    maxAttempts: 1,
    // We verify stored checksums ourselves over exactly the bytes we use (see checksum.ts).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return { client, customEndpoint: endpoint !== undefined, policy };
}

const hints = (endpoint: boolean): FailureHints => ({
  notFound: `the bucket name and key${endpoint ? ' and --s3-endpoint' : ' and the region (--s3-region)'}`,
  accessDenied: `the AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), that the bucket policy and IAM policy allow s3:GetObject and s3:ListBucket, and the ${endpoint ? 'endpoint (--s3-endpoint or AWS_ENDPOINT_URL_S3)' : 'region (--s3-region, AWS_REGION)'}`,
});

/** Maps any error from the SDK about `name`. */
export function classifyS3Error(error: unknown, name: string, customEndpoint: boolean): Failure {
  const network = classifyNetworkError(error, name, customEndpoint ? '--s3-endpoint' : 'the region and network');
  if (network) return network;
  if (error instanceof StorageError || error instanceof UsageError) return { transient: false, error };
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'CredentialsProviderError') {
    return {
      transient: false,
      error: new StorageError(`${name}: no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`, {
        code: 'ERR_ACCESS_DENIED',
        cause: error,
      }),
    };
  }
  if (e.message === 'Region is missing') {
    return { transient: false, error: new UsageError('no AWS region configured; set AWS_REGION or pass --s3-region', { cause: error }) };
  }
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined && e.name === 'TimeoutError') {
    return { transient: true, error: new StorageError(`${name}: request timed out`, { cause: error }) };
  }
  if (status === undefined) return { transient: false, error: error instanceof Error ? error : new Error(String(error)) };
  return classifyStatus(status, e.name, name, hints(customEndpoint), error);
}

/** One S3 object. `stat()` pins the ETag every later read is checked against. */
export class S3Source extends RemoteSource {
  readonly name: string;

  constructor(
    private readonly connection: S3Connection,
    readonly bucket: string,
    readonly key: string,
    private readonly ownsClient = true,
  ) {
    super(connection.policy);
    this.name = `s3://${bucket}/${key}`;
  }

  protected async fetchInfo(signal: AbortSignal): Promise<SourceInfo> {
    const head = await this.connection.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key, ChecksumMode: 'ENABLED' }), {
      abortSignal: signal,
    });
    return infoFromHead(head);
  }

  protected async requestRange(from: number, to: number, info: SourceInfo, signal: AbortSignal): Promise<RangeAnswer> {
    // Some S3-compatible stores ignore If-Match; checkedBody compares the answer's ETag too.
    const answer = await this.connection.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: this.key, Range: `bytes=${from}-${to - 1}`, ...(info.etag ? { IfMatch: info.etag } : {}) }),
      { abortSignal: signal },
    );
    const body = answer.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    return {
      status: answer.$metadata.httpStatusCode,
      contentRange: answer.ContentRange,
      etag: answer.ETag,
      body,
      discard: () => Promise.resolve(body?.destroy?.()),
    };
  }

  close(): Promise<void> {
    if (this.ownsClient) this.connection.client.destroy();
    return Promise.resolve();
  }

  protected classify(error: unknown): Failure {
    return classifyS3Error(error, this.name, this.connection.customEndpoint);
  }
}

/**
 * Reads size, ETag and checksums. A single-part upload's ETag is the MD5 of the object, except
 * under SSE-KMS/SSE-C, where it is not; multipart ETags (`…-N`) and composite checksums are not
 * digests of the whole object and are left out.
 */
function infoFromHead(head: HeadObjectCommandOutput): SourceInfo {
  const checksums: NonNullable<SourceInfo['checksums']> = {};
  const etag = head.ETag;
  const kms = head.ServerSideEncryption?.startsWith('aws:kms') === true || head.SSECustomerAlgorithm !== undefined;
  const md5 = etag ? /^"?([0-9a-f]{32})"?$/i.exec(etag)?.[1] : undefined;
  if (md5 && !kms) checksums.md5 = Buffer.from(md5, 'hex');
  if (head.ChecksumType !== 'COMPOSITE') {
    const fromBase64 = (value: string | undefined) => (value && !value.includes('-') ? Buffer.from(value, 'base64') : undefined);
    const sha256 = fromBase64(head.ChecksumSHA256);
    const sha1 = fromBase64(head.ChecksumSHA1);
    const crc32 = fromBase64(head.ChecksumCRC32);
    const crc32c = fromBase64(head.ChecksumCRC32C);
    if (sha256) checksums.sha256 = sha256;
    if (sha1) checksums.sha1 = sha1;
    if (crc32) checksums.crc32 = crc32;
    if (crc32c) checksums.crc32c = crc32c;
  }
  return {
    size: head.ContentLength ?? 0,
    ...(etag ? { etag } : {}),
    ...(head.LastModified ? { lastModified: head.LastModified } : {}),
    ...(Object.keys(checksums).length > 0 ? { checksums } : {}),
  };
}

/** A bucket, optionally narrowed to a prefix. */
export class S3Store implements ObjectStore {
  readonly name: string;

  constructor(
    private readonly connection: S3Connection,
    readonly bucket: string,
    readonly prefix: string,
    private readonly download?: DownloadOptions,
    private readonly pageSize?: number,
  ) {
    this.name = `s3://${bucket}/${prefix}`;
  }

  /**
   * Lists objects whose key starts with the store's prefix followed by `prefix`, page by page
   * (`pageSize` per page, at most and by default 1000). Keys are full keys within the bucket, ready for `object(key)`.
   */
  async *list(prefix = '', signal?: AbortSignal): AsyncIterable<ListedObject> {
    let continuationToken: string | undefined;
    do {
      const page = await withRetries(
        (attemptSignal) =>
          this.connection.client.send(
            new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: continuationToken, MaxKeys: this.pageSize }),
            { abortSignal: attemptSignal },
          ),
        (error) => classifyS3Error(error, this.name, this.connection.customEndpoint),
        this.connection.policy,
        signal,
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key,
          size: object.Size ?? 0,
          ...(object.LastModified ? { lastModified: object.LastModified } : {}),
          ...(object.ETag ? { etag: object.ETag } : {}),
        };
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }

  object(key: string): Source {
    return Object.assign(new S3Source(this.connection, this.bucket, key, false), { download: this.download });
  }

  close(): Promise<void> {
    this.connection.client.destroy();
    return Promise.resolve();
  }
}
