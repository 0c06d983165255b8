/**
 * Checks the checksums a store vouches for (S3 single-part ETag MD5 and `x-amz-checksum-*`, Azure
 * `Content-MD5`) over the bytes actually received, incrementally, so the download stays streaming.
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { IntegrityError } from '../errors.js';
import type { SourceInfo } from './source.js';

export type ChecksumAlgorithm = keyof NonNullable<SourceInfo['checksums']>;

export interface ChecksumVerifier {
  /** The algorithms that will be checked (empty when the store gave none we can compute). */
  readonly algorithms: readonly ChecksumAlgorithm[];
  /** Feeds the next bytes of the object, in order, from byte 0. */
  update(chunk: Uint8Array): void;
  /**
   * Compares every digest with the store's value. Throws IntegrityError naming the algorithm on a
   * mismatch, or when fewer or more bytes than `info.size` were fed. Returns the algorithms checked.
   */
  verify(): ChecksumAlgorithm[];
}

interface Digest {
  update(chunk: Uint8Array): void;
  digest(): Buffer;
}

/**
 * Creates a verifier for the whole object described by `info`.
 *
 * @example
 * ```ts
 * const info = await source.stat();
 * const verifier = createChecksumVerifier(info);
 * for await (const chunk of readParallel(source)) { verifier.update(chunk); … }
 * verifier.verify(); // ['md5'] or [] — throws IntegrityError on a mismatch
 * ```
 */
export function createChecksumVerifier(info: SourceInfo, name = 'the object'): ChecksumVerifier {
  const digests = new Map<ChecksumAlgorithm, Digest>();
  for (const [algorithm, expected] of Object.entries(info.checksums ?? {}) as [ChecksumAlgorithm, Buffer | undefined][]) {
    const digest = expected ? createDigest(algorithm) : undefined;
    if (digest) digests.set(algorithm, digest);
  }
  let received = 0;
  let actual: Map<ChecksumAlgorithm, Buffer> | undefined;
  return {
    algorithms: [...digests.keys()],
    update(chunk) {
      received += chunk.byteLength;
      for (const digest of digests.values()) digest.update(chunk);
    },
    verify() {
      if (info.size !== undefined && received !== info.size) {
        throw new IntegrityError(`${name}: received ${received} bytes but the store reports ${info.size}; the download is incomplete or the object changed`);
      }
      // Digests finish once; later calls compare the same values again.
      actual ??= new Map([...digests].map(([algorithm, digest]) => [algorithm, digest.digest()]));
      for (const [algorithm, value] of actual) {
        const expected = info.checksums?.[algorithm];
        if (expected && !value.equals(expected)) {
          throw new IntegrityError(`${name}: ${algorithm} checksum does not match the one the store reports; the data is corrupt, download it again`);
        }
      }
      return [...digests.keys()];
    },
  };
}

function createDigest(algorithm: ChecksumAlgorithm): Digest | undefined {
  switch (algorithm) {
    case 'md5':
    case 'sha1':
    case 'sha256':
      return hashDigest(createHash(algorithm));
    case 'crc32': {
      let value = 0;
      return {
        update: (chunk) => (value = crc32(chunk, value)),
        digest: () => {
          const out = Buffer.alloc(4);
          out.writeUInt32BE(value >>> 0);
          return out;
        },
      };
    }
    default:
      // crc32c and crc64nvme need native code Node does not ship; those are skipped, not failed.
      return undefined;
  }
}

function hashDigest(hash: Hash): Digest {
  return { update: (chunk) => hash.update(chunk), digest: () => hash.digest() };
}
