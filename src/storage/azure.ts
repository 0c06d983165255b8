/**
 * Azure Blob Storage through @azure/storage-blob. Loaded lazily by `open.ts`. Two ways in:
 * `azure://container/blob` with a connection string (AZURE_STORAGE_CONNECTION_STRING), or a blob
 * URL carrying a SAS token. The SDK's own retries are off; ours apply (see retry.ts).
 */
import { BlobClient, BlobServiceClient, type BlobGetPropertiesResponse, type ContainerClient, type ContainerListBlobFlatSegmentResponse, type StoragePipelineOptions } from '@azure/storage-blob';
import { StorageError } from '../errors.js';
import { classifyStatus, type FailureHints } from './failure.js';
import { RemoteSource, type RangeAnswer } from './remote.js';
import { classifyNetworkError, networkErrorCode, withRetries, type Failure, type RetryPolicy } from './retry.js';
import type { DownloadOptions } from './parallel.js';
import type { ListedObject, ObjectStore, Source, SourceInfo } from './source.js';

const pipelineOptions: StoragePipelineOptions = { retryOptions: { maxTries: 1 } };

/** Where the connection string came from, for messages ("check AZURE_STORAGE_CONNECTION_STRING"). */
export interface AzureCredentials {
  connectionString: string | undefined;
  /** Name of the environment variable it was read from. */
  variable: string;
}

/** A container client from a connection string; a missing or malformed one is an access error. */
export function connectContainer(container: string, credentials: AzureCredentials): ContainerClient {
  if (!credentials.connectionString) {
    throw new StorageError(`azure://${container}: no credentials; set ${credentials.variable} to the storage account's connection string`, {
      code: 'ERR_ACCESS_DENIED',
    });
  }
  try {
    return BlobServiceClient.fromConnectionString(credentials.connectionString, pipelineOptions).getContainerClient(container);
  } catch (error) {
    // The SDK's message may quote the string; ours names only the variable.
    throw new StorageError(`azure://${container}: ${credentials.variable} is not a valid connection string`, { code: 'ERR_ACCESS_DENIED', cause: error });
  }
}

/** A blob client for a URL with a SAS token (or an anonymous public blob). */
export function blobClientFromUrl(url: URL): BlobClient {
  return new BlobClient(url.href, undefined, pipelineOptions);
}

export function classifyAzureError(error: unknown, name: string, hints: FailureHints): Failure {
  const network = classifyNetworkError(error, name, 'the account endpoint in the connection string or URL');
  if (network) return network;
  if (error instanceof StorageError) return { transient: false, error };
  const e = error as { name?: string; message?: string; code?: string; statusCode?: number; details?: { errorCode?: string } };
  // The SDK's body wrapper reports a dropped connection as AbortError or "received less data".
  // Our own cancellations never get here: the download loop checks the caller's signal first.
  if (e.name === 'AbortError' || e.message?.startsWith('Data corruption failure: received less data')) {
    return { transient: true, error: new StorageError(`${name}: the connection dropped during the download`, { cause: error }) };
  }
  if (error instanceof UnreadableAnswer) {
    return { transient: true, error: new StorageError(`${name}: the store's answer could not be read (${error.message})`, { cause: error }) };
  }
  if (e.name !== 'RestError' || e.statusCode === undefined) {
    return { transient: false, error: error instanceof Error ? error : new Error(String(error)) };
  }
  // HEAD answers carry no body, so the service's code arrives only in the x-ms-error-code header.
  return classifyStatus(e.statusCode, e.details?.errorCode ?? e.code, name, hints, error);
}

/**
 * The SDK's download refuses some malformed answers with a plain Error before any body (a missing
 * Content-Length, as a proxy that truncates produces). Such an answer says nothing permanent about
 * the blob: it is retried like a dropped connection, and named as what it is when retries run out.
 */
class UnreadableAnswer extends Error {}

function unreadableOr(error: unknown): unknown {
  const e = error as { name?: string };
  if (!(error instanceof Error) || e.name === 'RestError' || e.name === 'AbortError' || networkErrorCode(error) !== undefined) return error;
  return new UnreadableAnswer(error.message, { cause: error });
}

/** One blob. `stat()` pins the ETag; every ranged download sends it as If-Match. */
export class AzureSource extends RemoteSource {
  /**
   * @param name display name without credentials (`azure://container/blob` or the URL without SAS)
   * @param hints what to check when the blob is missing or access is denied
   */
  constructor(
    private readonly blob: BlobClient,
    readonly name: string,
    private readonly hints: FailureHints,
    policy: RetryPolicy,
  ) {
    super(policy);
  }

  protected async fetchInfo(signal: AbortSignal): Promise<SourceInfo> {
    return infoFromProperties(await this.blob.getProperties({ abortSignal: signal }));
  }

  protected async requestRange(from: number, to: number, info: SourceInfo, signal: AbortSignal): Promise<RangeAnswer> {
    const answer = await this.blob
      .download(from, to - from, {
        abortSignal: signal,
        ...(info.etag ? { conditions: { ifMatch: info.etag } } : {}),
        // The SDK would resume by itself; ours resumes the same way for every provider.
        maxRetryRequests: 0,
      })
      .catch((error: unknown) => {
        throw unreadableOr(error);
      });
    const body = answer.readableStreamBody as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    return {
      status: answer._response.status,
      contentRange: answer.contentRange,
      etag: answer.etag,
      body,
      discard: () => Promise.resolve(body?.destroy?.()),
    };
  }

  protected classify(error: unknown): Failure {
    return classifyAzureError(error, this.name, this.hints);
  }
}

function infoFromProperties(properties: BlobGetPropertiesResponse): SourceInfo {
  return {
    size: properties.contentLength ?? 0,
    ...(properties.etag ? { etag: properties.etag } : {}),
    ...(properties.lastModified ? { lastModified: properties.lastModified } : {}),
    // Content-MD5 is stored with the blob when the uploader provided or the service computed it.
    ...(properties.contentMD5 ? { checksums: { md5: Buffer.from(properties.contentMD5) } } : {}),
  };
}

/** A container, optionally narrowed to a prefix. */
export class AzureStore implements ObjectStore {
  readonly name: string;
  private readonly hints: FailureHints;

  constructor(
    private readonly container: ContainerClient,
    readonly prefix: string,
    credentialsVariable: string,
    private readonly policy: RetryPolicy,
    private readonly download?: DownloadOptions,
    private readonly pageSize?: number,
  ) {
    this.name = `azure://${container.containerName}/${prefix}`;
    this.hints = {
      notFound: `the container and blob names and the account in ${credentialsVariable}`,
      accessDenied: `the account key or SAS in ${credentialsVariable} (a SAS needs read and list), the container's access policy, and the account and endpoint the connection string names`,
    };
  }

  /**
   * Lists blobs whose name starts with the store's prefix followed by `prefix`, page by page
   * (`pageSize` per page, at most and by default 5000). Keys are full blob names, ready for `object(key)`.
   */
  async *list(prefix = '', signal?: AbortSignal): AsyncIterable<ListedObject> {
    let continuationToken: string | undefined;
    do {
      const page = await withRetries(
        async (attemptSignal) => {
          const pages = this.container
            .listBlobsFlat({ prefix: this.prefix + prefix, abortSignal: attemptSignal })
            .byPage({ ...(continuationToken ? { continuationToken } : {}), ...(this.pageSize ? { maxPageSize: this.pageSize } : {}) });
          return (await pages.next()).value as ContainerListBlobFlatSegmentResponse | undefined;
        },
        (error) => classifyAzureError(error, this.name, this.hints),
        this.policy,
        signal,
      );
      for (const blob of page?.segment.blobItems ?? []) {
        yield {
          key: blob.name,
          size: blob.properties.contentLength ?? 0,
          lastModified: blob.properties.lastModified,
          etag: blob.properties.etag,
        };
      }
      continuationToken = page?.continuationToken || undefined;
    } while (continuationToken);
  }

  object(key: string): Source {
    const source = new AzureSource(this.container.getBlobClient(key), `azure://${this.container.containerName}/${key}`, this.hints, this.policy);
    return Object.assign(source, { download: this.download });
  }
}

/** Hints for a blob opened by URL: the SAS is the credential. */
export const urlHints: FailureHints = {
  notFound: 'the account, container and blob in the URL',
  accessDenied: 'that the SAS token is valid, not expired and grants read (sp=r)',
};
