import { FileSource, StreamSource } from './file.js';
import { resolveRetryPolicy, type RetryPolicy } from './retry.js';
import type { AzureCredentials } from './azure.js';
import type { S3Options } from './s3.js';
import type { DownloadOptions } from './parallel.js';
import type { ObjectStore, Source } from './source.js';
import { parseSourceSpec, parseStoreSpec, redactUrl } from './uri.js';

/** Options shared by every command that reads archives. */
export interface SourceOptions {
  /** Stream read for the `-` source (default: process.stdin). */
  stdin?: NodeJS.ReadableStream;
  /** Where AWS_ENDPOINT_URL_S3 and the Azure connection string are looked up (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** S3 endpoint, region and (for embedding/tests) explicit credentials. */
  s3?: S3Options;
  /** Azure: the connection string, or the name of the environment variable holding it. */
  azure?: { connectionString?: string; connectionStringEnv?: string };
  /** Retry/backoff/stall settings for remote sources. */
  retry?: Partial<RetryPolicy>;
  /** Ranged GETs of large objects: carried by every remote source opened with these options. */
  download?: DownloadOptions;
  /** Keys per listing request of `openStore` (default: the store's most, 1000 on S3, 5000 on Azure). */
  listPageSize?: number;
}

const defaultAzureVariable = 'AZURE_STORAGE_CONNECTION_STRING';

/**
 * Picks the adapter for a `<source>` argument: a path, `-` (stdin), `s3://bucket/key`,
 * `azure://container/blob`, an Azure blob URL with SAS, or any other `https://` URL (plain
 * `http://` only for loopback emulators). Storage SDKs load only when a URI needs them. Nothing is
 * contacted yet: the first `stat()` or `read()` does that. Throws UsageError for a malformed spec.
 *
 * @example
 * ```ts
 * const source = await openSource('s3://archives/46372/0c3a…/archive.mp4', { s3: { region: 'eu-west-1' } });
 * const { size } = await source.stat();
 * for await (const chunk of readParallel(source)) …
 * await source.close?.();
 * ```
 */
export async function openSource(spec: string, options: SourceOptions = {}): Promise<Source> {
  const location = parseSourceSpec(spec);
  const { download } = options;
  const policy = resolveRetryPolicy(options.retry);
  switch (location.kind) {
    case 'stdin':
      return new StreamSource((options.stdin ?? process.stdin) as never);
    case 'file':
      return new FileSource(location.path);
    case 's3': {
      const { connectS3, S3Source } = await import('./s3.js');
      return Object.assign(new S3Source(connectS3(options.s3 ?? {}, policy, options.env), location.bucket, location.key), { download });
    }
    case 'azure': {
      const { connectContainer, AzureStore } = await import('./azure.js');
      const credentials = azureCredentials(options);
      return new AzureStore(connectContainer(location.container, credentials), '', credentials.variable, policy, download).object(location.blob);
    }
    case 'azure-url': {
      const { AzureSource, blobClientFromUrl, urlHints } = await import('./azure.js');
      return Object.assign(new AzureSource(blobClientFromUrl(location.url), redactUrl(location.url), urlHints, policy), { download });
    }
    case 'https': {
      const { HttpsSource } = await import('./https.js');
      return Object.assign(new HttpsSource(location.url, policy), { download });
    }
  }
}

/**
 * Opens a bucket or container for listing: `s3://bucket[/prefix]` or `azure://container[/prefix]`.
 *
 * @example
 * ```ts
 * const store = await openStore('s3://archives');
 * for await (const object of store.list('46372/')) console.log(object.key, object.size);
 * ```
 */
export async function openStore(spec: string, options: SourceOptions = {}): Promise<ObjectStore> {
  const location = parseStoreSpec(spec);
  const policy = resolveRetryPolicy(options.retry);
  if (location.kind === 's3') {
    const { connectS3, S3Store } = await import('./s3.js');
    return new S3Store(connectS3(options.s3 ?? {}, policy, options.env), location.bucket, location.prefix, options.download, options.listPageSize);
  }
  const { connectContainer, AzureStore } = await import('./azure.js');
  const credentials = azureCredentials(options);
  return new AzureStore(connectContainer(location.container, credentials), location.prefix, credentials.variable, policy, options.download, options.listPageSize);
}

export function azureCredentials(options: SourceOptions): AzureCredentials {
  const variable = options.azure?.connectionStringEnv ?? defaultAzureVariable;
  const connectionString = options.azure?.connectionString ?? (options.env ?? process.env)[variable];
  return { connectionString, variable };
}
