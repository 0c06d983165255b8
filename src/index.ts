/** archive-crypt library API: re-exports only. */
export * from './errors.js';
export { loadPrivateKey, loadCertificate, type LoadedPrivateKey, type LoadedCertificate, type PassphraseSource } from './keys/load.js';
export type { Source, SourceInfo, ObjectStore, ListedObject } from './storage/source.js';
export { openSource, type SourceOptions } from './storage/open.js';
export { openFileSink, streamSink, nullSink, type OutputSink } from './engine/output.js';
