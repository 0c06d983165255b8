/** archive-crypt library API: re-exports only. */
export * from './errors.js';
export { loadPrivateKey, loadCertificate, type LoadedPrivateKey, type LoadedCertificate, type PassphraseSource } from './keys/load.js';
export type { Source, SourceInfo, ObjectStore, ListedObject } from './storage/source.js';
export { openSource, type SourceOptions } from './storage/open.js';
export { openFileSink, streamSink, nullSink, type OutputSink } from './engine/output.js';
export {
  unwrapPassword,
  parsePasswordBlob,
  encodePasswordBlob,
  createArchivePassword,
  destroyArchiveKey,
  CbcDecryptor,
  planCbcRanges,
  ciphertextSize,
  plaintextSize,
  paddingLength,
  type ArchiveKey,
  type CbcRange,
  type Padding,
} from './format/opentok.js';
export { MpegTsChecker, type MpegTsSummary } from './format/mpegts.js';
export { decryptArchive, ArchiveCheckError, type DecryptArchiveOptions, type DecryptReport, type CheckStatus } from './engine/decrypt.js';
export { encryptArchive, type EncryptArchiveOptions, type EncryptResult } from './engine/encrypt.js';
export { parseArchiveList, parseArchiveText, selectArchive, archiveObjectKey, type VonageArchive } from './vonage/archive.js';
