/**
 * The native core (native/archive_crypt.c) against independent implementations: the `openssl`
 * command line for every algorithm, node:crypto for the streaming splits, and the kernel for the
 * O_TMPFILE pair. With ARCHIVE_CRYPT_NATIVE=0 the loader must report why it is off instead.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative, loadNativeBinding, NativeKind, nativeUnavailableReason, type NativeBinding, type NativeContext, type NativeMapping, type NativeRing } from '../src/native.js';
import { openssl, repoRoot, tempDir } from './support/helpers.js';

const forcedOff = process.env.ARCHIVE_CRYPT_NATIVE === '0';

/**
 * The addon, loaded whatever ARCHIVE_CRYPT_NATIVE says (these tests are its own), or a failure that
 * says why it is missing: a test that cannot run its component fails.
 */
function binding(): NativeBinding {
  const { binding: native, reason } = loadNativeBinding();
  if (!native) throw new Error(`native core unavailable: ${reason} (npm ci builds it with npm's node-gyp; see native/build/build.log)`);
  return native;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Sizes around block boundaries, and the in-place splits each is fed in (as a caller's slices). */
const cases = [
  { blocks: 0, splits: [] },
  { blocks: 1, splits: [] },
  { blocks: 15, splits: [1] },
  { blocks: 16, splits: [8] },
  { blocks: 17, splits: [1, 16] },
  { blocks: 4096 + 3, splits: [1024, 2048, 4095] },
];

/** Runs `update(offset, length)` over `[0, size)` cut at `cuts` (in bytes). */
function inSlices(size: number, cuts: number[], update: (offset: number, length: number) => void): void {
  const bounds = [0, ...cuts.filter((cut) => cut < size), size];
  for (let i = 0; i + 1 < bounds.length; i += 1) update(bounds[i] ?? 0, (bounds[i + 1] ?? 0) - (bounds[i] ?? 0));
}

describe('native core against openssl', () => {
  const key = randomBytes(32);
  const iv = randomBytes(16);

  it.each(cases)('AES-256-CBC decrypt and encrypt in place, $blocks blocks in slices $splits', async ({ blocks, splits }) => {
    const native = binding();
    const dir = await tempDir();
    const plaintext = randomBytes(blocks * 16);
    const input = join(dir, 'plain');
    await writeFile(input, plaintext);
    const ciphertext = (await openssl(['enc', '-aes-256-cbc', '-nopad', '-K', hex(key), '-iv', hex(iv), '-in', input])).stdoutBytes;

    // Decrypt into a view of a SharedArrayBuffer (as the pool's ring holds it), slice by slice.
    const ring = new Uint8Array(new SharedArrayBuffer(ciphertext.length + 32), 16, ciphertext.length);
    ring.set(ciphertext);
    const decrypt = native.cipherNew(NativeKind.cbcDecrypt, key, iv);
    inSlices(ring.length, splits.map((block) => block * 16), (offset, length) => native.cipherUpdate(decrypt, ring, offset, length));
    native.contextFree(decrypt);
    expect(Buffer.from(ring).equals(plaintext)).toBe(true);

    const sealed = Buffer.from(plaintext);
    const encrypt = native.cipherNew(NativeKind.cbcEncrypt, key, iv);
    inSlices(sealed.length, splits.map((block) => block * 16), (offset, length) => native.cipherUpdate(encrypt, sealed, offset, length));
    native.contextFree(encrypt);
    expect(sealed.equals(ciphertext)).toBe(true);
  });

  it('AES-256-CTR in place at any byte split, and a new IV under the same key', async () => {
    const native = binding();
    const dir = await tempDir();
    const plaintext = randomBytes(70_001);
    const input = join(dir, 'plain');
    await writeFile(input, plaintext);
    const ctr = native.cipherNew(NativeKind.ctr, key, iv);
    for (const ivFor of [iv, randomBytes(16)]) {
      const expected = (await openssl(['enc', '-aes-256-ctr', '-K', hex(key), '-iv', hex(ivFor), '-in', input])).stdoutBytes;
      native.cipherSetIv(ctr, ivFor);
      const data = Buffer.from(plaintext);
      inSlices(data.length, [1, 17, 4099, 65_536], (offset, length) => native.cipherUpdate(ctr, data, offset, length));
      expect(data.equals(expected)).toBe(true);
    }
    native.contextFree(ctr);
  });

  it('HMAC-SHA256, SHA-256 and MD5 match openssl dgst, and each context serves the next message', async () => {
    const native = binding();
    const dir = await tempDir();
    const out = Buffer.alloc(40);
    const hmac = native.hmacNew(key);
    const sha256 = native.hashNew(NativeKind.sha256);
    const md5 = native.hashNew(NativeKind.md5);
    for (const size of [0, 1, 64, 100_003]) {
      const message = randomBytes(size);
      const input = join(dir, `message-${size}`);
      await writeFile(input, message);
      const expectHmac = (await openssl(['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hex(key)}`, '-r', input])).stdout.split(' ')[0];
      const expectSha = (await openssl(['dgst', '-sha256', '-r', input])).stdout.split(' ')[0];
      const expectMd5 = (await openssl(['dgst', '-md5', '-r', input])).stdout.split(' ')[0];
      for (const [context, expected] of [[hmac, expectHmac], [sha256, expectSha], [md5, expectMd5]] as const) {
        inSlices(size, [3, 64, 65_537], (offset, length) => native.digestUpdate(context, message, offset, length));
        const length = native.digestFinal(context, out, 8);
        expect(hex(out.subarray(8, 8 + length))).toBe(expected);
      }
    }
    for (const context of [hmac, sha256, md5]) native.contextFree(context);
  });

  it('agrees with node:crypto on data inside a SharedArrayBuffer view', () => {
    const native = binding();
    const data = new Uint8Array(new SharedArrayBuffer(4096), 100, 3000);
    data.set(randomBytes(3000));
    const copy = Buffer.from(data);
    const out = Buffer.alloc(32);
    const hmac = native.hmacNew(key);
    native.digestUpdate(hmac, data);
    native.digestFinal(hmac, out);
    expect(out.equals(createHmac('sha256', key).update(copy).digest())).toBe(true);
    const sha = native.hashNew(NativeKind.sha256);
    native.digestUpdate(sha, data, 10, 2000);
    native.digestFinal(sha, out);
    expect(out.equals(createHash('sha256').update(copy.subarray(10, 2010)).digest())).toBe(true);
  });

  it.each([
    ['a CBC length that is not whole blocks', (n: NativeBinding) => n.cipherUpdate(n.cipherNew(NativeKind.cbcDecrypt, key, iv), Buffer.alloc(17)), /multiple of 16/],
    ['a short key', (n: NativeBinding) => n.cipherNew(NativeKind.ctr, key.subarray(0, 16), iv), /32 bytes/],
    ['a region past the end', (n: NativeBinding) => n.cipherUpdate(n.cipherNew(NativeKind.ctr, key, iv), Buffer.alloc(32), 16, 17), /within the buffer/],
    ['a digest that does not fit', (n: NativeBinding) => n.digestFinal(n.hashNew(NativeKind.sha256), Buffer.alloc(40), 20), /no room/],
    ['a freed context', (n: NativeBinding) => {
      const context = n.hashNew(NativeKind.md5);
      n.contextFree(context);
      n.digestUpdate(context, Buffer.alloc(1));
    }, /already freed/],
    ['a digest context given to a cipher call', (n: NativeBinding) => n.cipherUpdate(n.hashNew(NativeKind.md5), Buffer.alloc(16)), /cipher context/],
  ])('refuses %s', (_name, call, message) => {
    const native = binding();
    expect(() => call(native)).toThrow(message);
  });
});

describe('native file mappings and the SIGBUS guard', () => {
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const rangeSize = 64 * 1024;

  /** A file of `size` random bytes, its openssl decryption (-nopad), and an open descriptor. */
  async function mappedArchive(size: number): Promise<{ path: string; fd: number; ciphertext: Buffer; plaintext: Buffer }> {
    const path = join(await tempDir(), 'archive.bin');
    const ciphertext = randomBytes(size);
    await writeFile(path, ciphertext);
    const plaintext = (await openssl(['enc', '-d', '-aes-256-cbc', '-nopad', '-K', hex(key), '-iv', hex(iv), '-in', path])).stdoutBytes;
    return { path, fd: openSync(path, 'r'), ciphertext, plaintext };
  }

  const async = (run: (callback: (error: Error | null, bad: number) => void) => void): Promise<number> =>
    new Promise((resolve, reject) => run((error, bad) => (error ? reject(error) : resolve(bad))));

  it('decrypts out of place from a mapping, shared by two threads or in order and hashed, as openssl does', async () => {
    const native = binding();
    const size = 5 * rangeSize + 4096;
    const { fd, ciphertext, plaintext } = await mappedArchive(size);
    const mapping = native.mapFile(fd, size);
    try {
      const count = Math.ceil(size / rangeSize);
      const shared = Buffer.from(new SharedArrayBuffer(size));
      const claims = new Int32Array(new SharedArrayBuffer(4));
      const theirs = async((done) => native.decryptRanges(key, iv, mapping, shared, rangeSize, count, 0, size, claims, -1, null, 0, done));
      native.decryptRanges(key, iv, mapping, shared, rangeSize, count, 0, size, claims, -1, null, 0);
      await theirs;
      expect(shared.equals(plaintext)).toBe(true);

      // In order on a libuv thread from the second range on, hashing all but the last block.
      const window = Buffer.alloc(size - rangeSize);
      const hash = native.hashNew(NativeKind.sha256);
      await async((done) => native.decryptRanges(key, iv, mapping, window, rangeSize, count - 1, rangeSize, size, null, -1, hash, window.length - 16, done));
      expect(window.equals(plaintext.subarray(rangeSize))).toBe(true);
      const digest = Buffer.alloc(32);
      native.digestFinal(hash, digest);
      expect(hex(digest)).toBe(createHash('sha256').update(plaintext.subarray(rangeSize, size - 16)).digest('hex'));

      const ciphertextHash = native.hashNew(NativeKind.sha256);
      expect(native.digestMapped(ciphertextHash, mapping, 100, size - 100)).toBe(-1);
      native.digestFinal(ciphertextHash, digest);
      expect(hex(digest)).toBe(createHash('sha256').update(ciphertext.subarray(100)).digest('hex'));
      // On a libuv thread, while the mapping is held: unmapFile waits for it.
      const hashing = async((done) => native.digestMapped(ciphertextHash, mapping, 0, size, done));
      expect(() => native.unmapFile(mapping)).toThrow(/still reads/);
      expect(await hashing).toBe(-1);
      native.digestFinal(ciphertextHash, digest);
      expect(hex(digest)).toBe(createHash('sha256').update(ciphertext).digest('hex'));
    } finally {
      native.unmapFile(mapping);
      closeSync(fd);
    }
  });

  it('turns a file that shrank while mapped into shrankAt, on this thread and on a libuv thread, and the process lives on', async () => {
    const native = binding();
    const size = 4 * rangeSize;
    const { path, fd } = await mappedArchive(size);
    const mapping = native.mapFile(fd, size);
    try {
      const cut = rangeSize + 8192;
      truncateSync(path, cut);
      const out = Buffer.alloc(size);
      const shrank = expect.objectContaining({ shrankAt: cut }) as Error;
      // Twice each: a guard that fired once must work again (the signal mask is restored on the jump).
      for (let round = 0; round < 2; round += 1) {
        expect(() => native.decryptRanges(key, iv, mapping, out, rangeSize, 4, 0, size, null, -1, null, 0)).toThrow(shrank);
        await expect(async((done) => native.decryptRanges(key, iv, mapping, out, rangeSize, 4, 0, size, new Int32Array(new SharedArrayBuffer(4)), -1, null, 0, done))).rejects.toThrow(shrank);
        expect(native.digestMapped(native.hashNew(NativeKind.sha256), mapping, 0, size)).toBe(cut);
        expect(await async((done) => native.digestMapped(native.hashNew(NativeKind.sha256), mapping, 0, size, done))).toBe(cut);
      }
      // The bytes still there decrypt as before.
      native.decryptRanges(key, iv, mapping, out, rangeSize, 1, 0, rangeSize, null, -1, null, 0);
    } finally {
      native.unmapFile(mapping);
      closeSync(fd);
    }
  });

  it('refuses what cannot be mapped, a mapping in use or unmapped, and ranges past its end', async () => {
    const native = binding();
    const { fd } = await mappedArchive(2 * rangeSize);
    const special = openSync('/dev/null', 'r');
    try {
      expect(() => native.mapFile(fd, 0)).toThrow(/positive integer/);
      const mapping = native.mapFile(fd, 2 * rangeSize);
      const out = Buffer.alloc(2 * rangeSize);
      expect(() => native.decryptRanges(key, iv, mapping, out, rangeSize, 3, 0, 3 * rangeSize, null, -1, null, 0)).toThrow(/within/);
      const running = async((done) => native.decryptRanges(key, iv, mapping, out, rangeSize, 2, 0, 2 * rangeSize, null, -1, null, 0, done));
      expect(() => native.unmapFile(mapping)).toThrow(/still reads/);
      await running;
      native.unmapFile(mapping);
      native.unmapFile(mapping);
      expect(() => native.decryptRanges(key, iv, mapping, out, rangeSize, 1, 0, rangeSize, null, -1, null, 0)).toThrow(/unmapped/);
      expect(() => native.mapFile(special, 4096)).toThrow(expect.objectContaining({ code: 'ENODEV', syscall: 'mmap' }) as Error);
    } finally {
      closeSync(special);
      closeSync(fd);
    }
  });

  it('refuses one kind of handle where another is expected, frees and unmaps included (each external carries its kind)', async () => {
    const native = binding();
    const { fd } = await mappedArchive(rangeSize);
    const mapping = native.mapFile(fd, rangeSize);
    const context = native.cipherNew(NativeKind.cbcDecrypt, key, iv);
    try {
      // A mapping read as a cipher context (or the reverse) would be a struct of the wrong shape.
      expect(() => native.cipherUpdate(mapping as unknown as NativeContext, Buffer.alloc(16))).toThrow(new TypeError('expected a context made by this addon'));
      expect(() => native.digestMapped(mapping as unknown as NativeContext, mapping, 0, 16)).toThrow(new TypeError('expected a context made by this addon'));
      expect(() => native.unmapFile(context as unknown as NativeMapping)).toThrow(new TypeError('expected a mapping made by mapFile'));
      expect(() => native.releaseMapped(context as unknown as NativeMapping, 0, 16)).toThrow(new TypeError('expected a mapping made by mapFile'));
      expect(() => native.sealedRingFree?.(mapping as unknown as NativeRing)).toThrow(new TypeError('expected a ring made by sealedRing'));
      // The frees too: freeing the wrong struct would corrupt memory.
      expect(() => native.contextFree(mapping as unknown as NativeContext)).toThrow(new TypeError('expected a context made by this addon'));
    } finally {
      native.contextFree(context);
      native.unmapFile(mapping);
      closeSync(fd);
    }
  });
});

describe('native O_TMPFILE pair', () => {
  it.runIf(process.platform === 'linux')('an unnamed 0600 file is invisible until linked, and linking never replaces a file', async () => {
    const native = binding();
    const dir = await tempDir();
    const fd = native.openTmpfile(dir);
    try {
      writeSync(fd, 'verified output');
      expect(readdirSync(dir)).toEqual([]);
      const target = join(dir, 'out.ts');
      native.linkTmpfile(fd, target);
      expect(readFileSync(target, 'utf8')).toBe('verified output');
      expect(statSync(target).mode & 0o777).toBe(0o600);
      expect(() => native.linkTmpfile(fd, target)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'linkat' }) as Error);
    } finally {
      closeSync(fd);
    }
  });

  it('names the errno when the directory is missing, or where O_TMPFILE does not exist', async () => {
    const native = binding();
    const missing = join(await tempDir(), 'missing');
    const code = process.platform === 'linux' ? 'ENOENT' : 'EOPNOTSUPP';
    expect(() => native.openTmpfile(missing)).toThrow(expect.objectContaining({ code, syscall: 'open' }) as Error);
  });
});

describe('native loader', () => {
  it('ARCHIVE_CRYPT_NATIVE=0 switches the native core off and says so', () => {
    // In a process of its own (the built loader, dist/native.js): the loader decides once per process,
    // and a re-imported copy in this worker's shared module graph (vitest isolate: false) was seen to
    // stay there for the next test files, which then ran without the addon.
    const probe = "const m = await import('./dist/native.js'); console.log(JSON.stringify([m.loadNative() === undefined, m.nativeUnavailableReason()]));";
    const answer = execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: repoRoot, env: { ...process.env, ARCHIVE_CRYPT_NATIVE: '0' }, encoding: 'utf8' });
    expect(JSON.parse(answer)).toEqual([true, 'switched off by ARCHIVE_CRYPT_NATIVE=0']);
  });

  it('loads the built addon otherwise', () => {
    expect(forcedOff ? nativeUnavailableReason() : nativeUnavailableReason() ?? 'loaded').toBe(forcedOff ? 'switched off by ARCHIVE_CRYPT_NATIVE=0' : 'loaded');
    expect(loadNative() === undefined).toBe(forcedOff);
  });
});
