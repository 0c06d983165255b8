/**
 * Any URL that answers ranged GETs: a presigned S3 URL, an Azure SAS URL, Vonage's archive URL.
 * Uses Node's built-in fetch. The size comes from a one-byte ranged GET rather than HEAD, because
 * a presigned S3 URL is signed for GET only.
 */
import { StorageError } from '../errors.js';
import { classifyStatus, type FailureHints } from './failure.js';
import { RemoteSource, type RangeAnswer } from './remote.js';
import { classifyNetworkError, type Failure, type RetryPolicy } from './retry.js';
import type { SourceInfo } from './source.js';
import { redactUrl } from './uri.js';

const hints: FailureHints = {
  notFound: 'the URL',
  accessDenied: 'that the URL is complete and its signature or SAS has not expired',
};

/** An HTTP answer that is not what we asked for, carried to the classifier. */
class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly providerCode: string | undefined,
  ) {
    super(`http ${status}`);
  }
}

export class HttpsSource extends RemoteSource {
  readonly name: string;

  constructor(
    private readonly url: URL,
    policy: RetryPolicy,
  ) {
    super(policy);
    this.name = redactUrl(url);
  }

  protected fetchInfo(signal: AbortSignal): Promise<SourceInfo> {
    return this.probe(signal);
  }

  protected async requestRange(from: number, to: number, info: SourceInfo, signal: AbortSignal): Promise<RangeAnswer> {
    const headers: Record<string, string> = { range: `bytes=${from}-${to - 1}` };
    // If-Match requires a strong ETag; a weak one is still compared by checkedBody.
    if (info.etag && !info.etag.startsWith('W/')) headers['if-match'] = info.etag;
    const response = await fetch(this.url, { headers, signal });
    if (response.status !== 206 && response.status !== 200) throw await statusError(response);
    return {
      status: response.status,
      contentRange: response.headers.get('content-range') ?? undefined,
      etag: response.headers.get('etag') ?? undefined,
      body: response.body ?? undefined,
      discard: async () => {
        await response.body?.cancel();
      },
    };
  }

  /** One-byte ranged GET: size from Content-Range (or Content-Length if Range is ignored), ETag, MD5. */
  private async probe(signal: AbortSignal): Promise<SourceInfo> {
    const response = await fetch(this.url, { headers: { range: 'bytes=0-0' }, signal });
    await response.body?.cancel();
    const range = response.headers.get('content-range');
    let size: number | undefined;
    if (response.status === 206) size = Number(/\/(\d+)$/.exec(range ?? '')?.[1]);
    else if (response.status === 200) size = Number(response.headers.get('content-length') ?? NaN);
    else if (response.status === 416 && range === 'bytes */0') size = 0;
    else throw await statusError(response);
    if (!Number.isSafeInteger(size)) throw new StorageError(`${this.name}: the server does not report the object size`);
    const etag = response.headers.get('etag') ?? undefined;
    const lastModified = response.headers.get('last-modified');
    // Azure reports the whole blob's MD5 on ranged answers; S3's single-part ETag is its MD5.
    const azureMd5 = response.headers.get('x-ms-blob-content-md5');
    const s3Md5 =
      response.headers.has('x-amz-request-id') && !response.headers.get('x-amz-server-side-encryption')?.startsWith('aws:kms')
        ? /^"([0-9a-f]{32})"$/i.exec(etag ?? '')?.[1]
        : undefined;
    const md5 = azureMd5 ? Buffer.from(azureMd5, 'base64') : s3Md5 ? Buffer.from(s3Md5, 'hex') : undefined;
    return {
      size,
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified: new Date(lastModified) } : {}),
      ...(md5 ? { checksums: { md5 } } : {}),
    };
  }

  protected classify(error: unknown): Failure {
    const network = classifyNetworkError(error, this.name, 'the host name in the URL');
    if (network) return network;
    if (error instanceof HttpStatusError) return classifyStatus(error.status, error.providerCode, this.name, hints, error);
    if (error instanceof StorageError) return { transient: false, error };
    return { transient: false, error: error instanceof Error ? error : new Error(String(error)) };
  }
}

/** Reads the provider's error code (S3 and Azure both send XML `<Code>`), then discards the body. */
async function statusError(response: Response): Promise<HttpStatusError> {
  let code = response.headers.get('x-ms-error-code') ?? undefined;
  try {
    const text = (await response.text()).slice(0, 4096);
    code ??= /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
  } catch {
    // The body is only a hint; the status alone decides.
  }
  return new HttpStatusError(response.status, code);
}
