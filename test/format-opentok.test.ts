/**
 * Unit tests of the pure Vonage-format functions: CBC range planning (boundary table plus a property
 * checked by real decryption), PKCS#7 padding, the 51-byte password blob, password unwrapping.
 */
import { createKeyring, fileKeyHandle } from '../src/keys/keyring.js';
import { constants, createCipheriv, createDecipheriv, generateKeyPairSync, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, PasswordError } from '../src/errors.js';
import {
  BLOCK_SIZE,
  CbcDecryptor,
  ciphertextSize,
  createArchivePassword,
  encodePasswordBlob,
  paddingLength,
  parsePasswordBlob,
  planCbcRanges,
  plaintextSize,
  unwrapPassword,
  type CbcRange,
} from '../src/format/opentok.js';

const numRuns = Number(process.env.FC_RUNS ?? 50);
const key = Buffer.alloc(32, 0x11);
const iv = Buffer.alloc(16, 0x22);

function cbcEncrypt(plaintext: Buffer, autoPadding = true): Buffer {
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  cipher.setAutoPadding(autoPadding);
  return Buffer.concat([cipher.update(plaintext), cipher.final()]);
}

/** Decrypts every range on its own, as a worker would, and joins the results. */
function decryptByRanges(ciphertext: Buffer, ranges: CbcRange[]): Buffer {
  return Buffer.concat(
    ranges.map((range) => {
      const rangeIv = range.ivOffset < 0 ? iv : ciphertext.subarray(range.ivOffset, range.ivOffset + BLOCK_SIZE);
      const decipher = createDecipheriv('aes-256-cbc', key, rangeIv);
      decipher.setAutoPadding(range.last);
      return Buffer.concat([decipher.update(ciphertext.subarray(range.start, range.end)), decipher.final()]);
    }),
  );
}

/** Every way a plan can be wrong, as readable strings (plain checks: the property runs over many ranges). */
function planProblems(ranges: CbcRange[], size: number, rangeSize: number): string[] {
  const problems: string[] = [];
  if (ranges.length !== Math.max(1, Math.ceil(size / rangeSize))) problems.push(`${ranges.length} ranges`);
  if (ranges[0]?.start !== 0) problems.push('does not start at 0');
  if (ranges.at(-1)?.end !== size) problems.push('does not end at the size');
  ranges.forEach((range, i) => {
    const where = `range ${i}`;
    if (range.index !== i) problems.push(`${where}: index ${range.index}`);
    if (range.start % BLOCK_SIZE !== 0 || range.end % BLOCK_SIZE !== 0) problems.push(`${where}: not block-aligned`);
    if (range.end - range.start > rangeSize) problems.push(`${where}: too long`);
    if (range.ivOffset !== (i === 0 ? -1 : range.start - BLOCK_SIZE)) problems.push(`${where}: iv offset ${range.ivOffset}`);
    if (range.last !== (i === ranges.length - 1)) problems.push(`${where}: last flag`);
    if (i > 0 && range.start !== ranges[i - 1]?.end) problems.push(`${where}: gap or overlap`);
  });
  return problems;
}

describe('planCbcRanges', () => {
  // Block counts around a range of 16 blocks, and range sizes one block below, at and above it.
  const table = [0, 1, 15, 16, 17, 31, 32, 33].flatMap((blocks) => [15, 16, 17].map((rangeBlocks) => [blocks, rangeBlocks] as const));

  it.each(table)('%i blocks in ranges of %i blocks: contiguous, aligned, independently decryptable', (blocks, rangeBlocks) => {
    const size = blocks * BLOCK_SIZE;
    const ranges = planCbcRanges(size, rangeBlocks * BLOCK_SIZE);
    expect(planProblems(ranges, size, rangeBlocks * BLOCK_SIZE)).toEqual([]);
    if (blocks === 0) return;
    // Plaintext one byte short of the ciphertext's last block, so that PKCS#7 adds exactly one byte.
    const plaintext = randomBytes(size - 1);
    const ciphertext = cbcEncrypt(plaintext);
    expect(ciphertext.length).toBe(size);
    expect(decryptByRanges(ciphertext, ranges).equals(plaintext)).toBe(true);
  });

  it.each([
    [0, 16, [{ index: 0, start: 0, end: 0, ivOffset: -1, last: true }]],
    [16, 16, [{ index: 0, start: 0, end: 16, ivOffset: -1, last: true }]],
    [48, 32, [{ index: 0, start: 0, end: 32, ivOffset: -1, last: false }, { index: 1, start: 32, end: 48, ivOffset: 16, last: true }]],
    [
      64,
      16,
      [
        { index: 0, start: 0, end: 16, ivOffset: -1, last: false },
        { index: 1, start: 16, end: 32, ivOffset: 0, last: false },
        { index: 2, start: 32, end: 48, ivOffset: 16, last: false },
        { index: 3, start: 48, end: 64, ivOffset: 32, last: true },
      ],
    ],
  ])('size %i, range %i gives exactly the expected plan', (size, rangeSize, expected) => {
    expect(planCbcRanges(size, rangeSize)).toEqual(expected);
  });

  it.each([
    [16, 0],
    [16, 15],
    [16, 17],
    [16, -16],
    [16, 24.5],
    [-16, 16],
    [1.5, 16],
    [Number.MAX_SAFE_INTEGER + 1, 16],
  ])('rejects size %d with range size %d', (size, rangeSize) => {
    expect(() => planCbcRanges(size, rangeSize)).toThrow(RangeError);
  });

  it('property: any size and range size give a well-formed plan', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 16 }), fc.integer({ min: 1, max: 4096 }), (blocks, rangeBlocks) => {
        const size = blocks * BLOCK_SIZE;
        const problems = planProblems(planCbcRanges(size, rangeBlocks * BLOCK_SIZE), size, rangeBlocks * BLOCK_SIZE);
        if (problems.length > 0) throw new Error(problems.slice(0, 3).join('; '));
      }),
      { numRuns },
    );
  });
});

describe('PKCS#7 padding', () => {
  const block = (fill: number, tail: number[]) => Buffer.concat([Buffer.alloc(BLOCK_SIZE - tail.length, fill), Buffer.from(tail)]);

  it.each(Array.from({ length: 16 }, (_, i) => i + 1))('accepts %i padding bytes', (n) => {
    expect(paddingLength(block(0xaa, Array<number>(n).fill(n)))).toBe(n);
  });

  it.each([
    ['last byte 0', block(0xaa, [0])],
    ['last byte 17', block(0xaa, [17])],
    ['last byte 0xff', block(0xaa, [0xff])],
    ['one padding byte differs (…,2,3,3 for 3)', block(0xaa, [2, 3, 3])],
    ['first of 16 padding bytes differs', Buffer.concat([Buffer.from([15]), Buffer.alloc(15, 16)])],
    ['block of 15 bytes', Buffer.alloc(15, 1)],
    ['block of 17 bytes', Buffer.alloc(17, 1)],
    ['empty block', Buffer.alloc(0)],
  ])('rejects %s', (_name, lastBlock) => {
    expect(() => paddingLength(lastBlock)).toThrow(IntegrityError);
  });

  it.each([
    [0, 16],
    [1, 16],
    [15, 16],
    [16, 32],
    [17, 32],
    [188 * 361, 67872],
  ])('plaintext of %i bytes gives %i bytes of ciphertext, and back', (plain, cipher) => {
    expect(ciphertextSize(plain)).toBe(cipher);
    const ciphertext = cbcEncrypt(Buffer.alloc(plain, 0x47));
    expect(ciphertext.length).toBe(cipher);
    // The last plaintext block, decrypted on its own with the block before it as IV.
    const decipher = createDecipheriv('aes-256-cbc', key, cipher > BLOCK_SIZE ? ciphertext.subarray(-2 * BLOCK_SIZE, -BLOCK_SIZE) : iv);
    decipher.setAutoPadding(false);
    const lastPlain = decipher.update(ciphertext.subarray(-BLOCK_SIZE));
    expect(plaintextSize(cipher, 'pkcs7', lastPlain)).toBe(plain);
    expect(plaintextSize(cipher, 'pkcs7')).toBe(cipher - BLOCK_SIZE);
    expect(plaintextSize(cipher, 'none')).toBe(cipher);
  });
});

describe('CbcDecryptor', () => {
  const plaintext = randomBytes(1000);
  // With the last block cut off, byte 991 ends the data: a random 0x01 there (1 in 256) would be valid
  // padding and the "last block missing" case would pass by chance. 0 is never valid padding.
  plaintext[991] = 0;
  const ciphertext = cbcEncrypt(plaintext);

  it.each([1, 15, 16, 17, 64, 999, 1008])('decrypts in chunks of %i bytes', (chunk) => {
    const decryptor = new CbcDecryptor(key, iv, 'pkcs7');
    const parts: Buffer[] = [];
    for (let offset = 0; offset < ciphertext.length; offset += chunk) parts.push(decryptor.update(ciphertext.subarray(offset, offset + chunk)));
    parts.push(decryptor.final());
    expect(Buffer.concat(parts).equals(plaintext)).toBe(true);
    expect(decryptor.ciphertextBytes).toBe(ciphertext.length);
  });

  it('keeps the padding with padding "none", like openssl -nopad', () => {
    const decryptor = new CbcDecryptor(key, iv, 'none');
    const out = Buffer.concat([decryptor.update(ciphertext), decryptor.final()]);
    expect(out.length).toBe(ciphertext.length);
    expect(out.subarray(0, plaintext.length).equals(plaintext)).toBe(true);
    expect(out.subarray(plaintext.length).equals(Buffer.alloc(8, 8))).toBe(true);
  });

  it.each([
    ['empty', Buffer.alloc(0), /empty archive/],
    ['not a multiple of 16', ciphertext.subarray(0, ciphertext.length - 1), /not a multiple of 16/],
    ['last block missing', ciphertext.subarray(0, ciphertext.length - 16), /padding/],
    ['flipped bit in the last block', Buffer.concat([ciphertext.subarray(0, -1), Buffer.from([ciphertext.at(-1)! ^ 0x01])]), /padding/],
  ])('rejects %s with an IntegrityError', (_name, bytes, message) => {
    const decryptor = new CbcDecryptor(key, iv, 'pkcs7');
    decryptor.update(bytes);
    expect(() => decryptor.final()).toThrow(IntegrityError);
    const again = new CbcDecryptor(key, iv, 'pkcs7');
    again.update(bytes);
    expect(() => again.final()).toThrow(message);
  });
});

describe('password blob', () => {
  const archiveKey = Buffer.alloc(32, 0xab);
  const archiveIv = Buffer.alloc(16, 0xcd);

  it('parses version 1 / AES-256 / CBC into key and iv', () => {
    const blob = encodePasswordBlob(archiveKey, archiveIv);
    expect(blob.length).toBe(51);
    expect([...blob.subarray(0, 3)]).toEqual([1, 1, 1]);
    const parsed = parsePasswordBlob(blob);
    expect(parsed.key.equals(archiveKey)).toBe(true);
    expect(parsed.iv.equals(archiveIv)).toBe(true);
  });

  it.each([
    ['50 bytes', Buffer.alloc(50, 1), /51/],
    ['52 bytes', Buffer.alloc(52, 1), /51/],
    ['empty', Buffer.alloc(0), /51/],
    ['version 2', Buffer.concat([Buffer.from([2, 1, 1]), archiveKey, archiveIv]), /version\/algorithm\/mode 2\/1\/1/],
    ['algorithm 2', Buffer.concat([Buffer.from([1, 2, 1]), archiveKey, archiveIv]), /1\/2\/1/],
    ['mode 0', Buffer.concat([Buffer.from([1, 1, 0]), archiveKey, archiveIv]), /1\/1\/0/],
  ])('rejects %s as an unsupported archive password', (_name, blob, message) => {
    expect(() => parsePasswordBlob(blob)).toThrow(PasswordError);
    expect(() => parsePasswordBlob(blob)).toThrow(/unsupported archive password/);
    expect(() => parsePasswordBlob(blob)).toThrow(message);
  });

  it('encodePasswordBlob refuses a wrong key or iv length', () => {
    expect(() => encodePasswordBlob(Buffer.alloc(31), archiveIv)).toThrow(RangeError);
    expect(() => encodePasswordBlob(archiveKey, Buffer.alloc(15))).toThrow(RangeError);
  });
});

describe('unwrapPassword', () => {
  let first: { publicKey: KeyObject; privateKey: KeyObject };
  let second: { publicKey: KeyObject; privateKey: KeyObject };
  beforeAll(() => {
    first = generateKeyPairSync('rsa', { modulusLength: 2048 });
    second = generateKeyPairSync('rsa', { modulusLength: 2048 });
  });

  /** The library keyring over file keys (src/keys/keyring.ts), as decryptArchive takes it. */
  const ring = (...keys: KeyObject[]) => createKeyring(keys.map((key, i) => fileKeyHandle(key, `key ${i}`)));
  const wrap = (publicKey: KeyObject, blob: Buffer, oaepHash: string) =>
    publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, blob).toString('base64');

  it('opens a password made by createArchivePassword (OAEP SHA-1) with the right key of a keyring', async () => {
    const made = createArchivePassword(second.publicKey);
    const opened = await unwrapPassword(made.password, ring(first.privateKey, second.privateKey));
    expect(opened.keyIndex).toBe(1);
    expect(opened.oaepHash).toBe('sha1');
    expect(opened.key.equals(made.key)).toBe(true);
    expect(opened.iv.equals(made.iv)).toBe(true);
  });

  it('falls back to OAEP SHA-256', async () => {
    const blob = encodePasswordBlob(Buffer.alloc(32, 7), Buffer.alloc(16, 9));
    const opened = await unwrapPassword(wrap(first.publicKey, blob, 'sha256'), ring(first.privateKey));
    expect(opened.oaepHash).toBe('sha256');
    expect(opened.key.equals(Buffer.alloc(32, 7))).toBe(true);
  });

  it('accepts a password broken over lines, with surrounding white space', async () => {
    const made = createArchivePassword(first.publicKey);
    const wrapped = `  ${made.password.replace(/(.{64})/g, '$1\n')}\n`;
    expect((await unwrapPassword(wrapped, ring(first.privateKey))).key.equals(made.key)).toBe(true);
  });

  it.each([
    ['not base64', () => '!!!not-base64!!!', /not base64/],
    ['empty', () => '', /not base64/],
    ['truncated', () => createArchivePassword(first.publicKey).password.slice(0, 300), /bytes after base64|not base64/],
    ['made for another key', () => createArchivePassword(second.publicKey).password, /does not open/],
    [
      'one character changed',
      () => {
        const p = createArchivePassword(first.publicKey).password;
        return `${p[0] === 'A' ? 'B' : 'A'}${p.slice(1)}`;
      },
      /does not open/,
    ],
    ['wrong header bytes', () => wrap(first.publicKey, Buffer.concat([Buffer.from([1, 1, 2]), Buffer.alloc(48)]), 'sha1'), /unsupported archive password/],
    ['a 32-byte blob', () => wrap(first.publicKey, Buffer.alloc(32, 1), 'sha1'), /unsupported archive password: 32 bytes/],
  ])('rejects a password that is %s', async (_name, makePassword, message) => {
    const password = makePassword();
    const error = await unwrapPassword(password, ring(first.privateKey)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PasswordError);
    expect((error as Error).message).toMatch(message);
  });

  it('names the keyring size when no key of several opens it', async () => {
    const password = createArchivePassword(second.publicKey).password;
    await expect(unwrapPassword(password, ring(first.privateKey, first.privateKey))).rejects.toThrow(/none of the 2 keys/);
  });
});
