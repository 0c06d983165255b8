/** archive-crypt library API: re-exports only. */
export * from './errors.js';
export { loadPrivateKey, loadCertificate, type LoadedPrivateKey, type LoadedCertificate, type PassphraseSource } from './keys/load.js';
export { generateArchiveKeys, type GenerateArchiveKeysOptions, type GeneratedArchiveKeys } from './keys/archive-keys.js';
export { generateRsaKeyPair, privateKeyToPem, type RsaKeyPair } from './keys/generate.js';
export { createSelfSignedCertificate, type SelfSignedCertificateOptions } from './keys/certificate.js';
export { createCsr } from './keys/csr.js';
export { createPkcs12, readPkcs12, type Pkcs12Options, type Pkcs12Contents } from './keys/pkcs12.js';
export { inspectKeyFile, type KeyFileReport, type InspectedItem, type InspectOptions } from './keys/inspect.js';
export { keyMatchesCertificate, publicKeyFingerprint, certificateFingerprint } from './keys/fingerprint.js';
export { parseSubject, formatSubject, type NameAttribute } from './keys/subject.js';
export type { Source, SourceInfo, ObjectStore, ListedObject } from './storage/source.js';
export { openSource, openStore, type SourceOptions } from './storage/open.js';
export { readParallel, type ParallelReadOptions } from './storage/parallel.js';
export { createChecksumVerifier, type ChecksumVerifier, type ChecksumAlgorithm } from './storage/checksum.js';
export { listArchives, parseArchiveKey, type StoredArchive } from './storage/archive-layout.js';
export { parseSourceSpec, parseStoreSpec, type SourceLocation, type StoreLocation } from './storage/uri.js';
export type { RetryPolicy } from './storage/retry.js';
export type { S3Options } from './storage/s3.js';
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
export { decryptArchive, ArchiveCheckError, type DecryptArchiveOptions, type DecryptReport, type CheckStatus } from './engine/archive/decrypt.js';
export { createDecryptPool, DecryptPool, type DecryptPoolOptions } from './engine/threads/pool.js';
export { encryptArchive, type EncryptArchiveOptions, type EncryptResult } from './engine/archive/encrypt.js';
export { parseArchiveList, parseArchiveText, selectArchive, archiveObjectKey, type VonageArchive } from './vonage/archive.js';
export * as sealedFormat from './format/sealed.js';
export { createSealer, createUnsealer, sealStream, unsealStream, sealBuffer, unsealBuffer, type Sealer, type Unsealer, type SealerOptions, type UnsealerOptions } from './format/sealed-stream.js';
export { keyIdOf, wrapFileKey, unwrapFileKey, unwrapFileKeySync } from './keys/recipients.js';
export { verifyCallbackToken, type CallbackClaims, type VerifyCallbackOptions } from './vonage/callback.js';
export { resealArchive, type ResealArchiveOptions, type ResealReport } from './engine/archive/reseal.js';
export { decryptBatch, type DecryptBatchOptions, type BatchReport, type BatchItemReport, type BatchEvent, type BatchStatus } from './engine/archive/batch.js';
export { sealArchive, type SealArchiveOptions, type SealReport } from './engine/sealed/seal.js';
export { unsealArchive, type UnsealArchiveOptions, type UnsealReport } from './engine/sealed/unseal.js';
export { VonageClient, MAX_PAGE_SIZE, type VonageClientOptions, type ArchiveJson, type ArchiveListJson, type StorageTarget } from './vonage/client.js';
export { authorizationHeader, defaultApiUrls, type VonageCredentials } from './vonage/token.js';
export { resolveVonageCredentials, type VonageSettings, type ResolvedVonage } from './vonage/credentials.js';
