/**
 * Unit tests of the sealed format's pieces: size arithmetic tables, incremental header parsing,
 * segments opened independently and out of order (as workers will), argument checks, and recipients.
 */
import { X509Certificate, createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { IntegrityError, KeyError, UsageError } from '../src/errors.js';
import {
  RECIPIENT_RSA_OAEP_SHA256,
  TAG_LENGTH,
  encodeHeader,
  deriveKeys,
  openHeader,
  openSegment,
  parseHeader,
  plaintextSize,
  sealHeader,
  sealSegment,
  sealedSegmentSpan,
  sealedSize,
  segmentCount,
  segmentIv,
} from '../src/format/sealed.js';
import { sealBuffer, sealStream, unsealBuffer } from '../src/format/sealed-stream.js';
import { keyIdOf, unwrapFileKeySync, wrapFileKey } from '../src/keys/recipients.js';
import { openssl, tempDir } from './support/helpers.js';
import { vectorKeyPem, vectorPrivateKey } from './support/sealed-vectors.js';

const alice = vectorPrivateKey('alice');
const bob = vectorPrivateKey('bob');
const stanza = { type: RECIPIENT_RSA_OAEP_SHA256, keyId: Buffer.alloc(8, 1), wrappedKey: Buffer.alloc(256, 2) } as const;

describe('size arithmetic', () => {
  const layout = { headerLength: 300, segmentSize: 1024 };
  // plaintext size → segments and sealed size (F = 1056)
  const table: [number, number, number][] = [
    [0, 1, 332],
    [1, 1, 333],
    [1023, 1, 1355],
    [1024, 2, 1388],
    [1025, 2, 1389],
    [2048, 3, 2444],
    [10 * 1024 + 7, 11, 300 + 10 * 1024 + 7 + 11 * 32],
  ];
  it.each(table)('%i plaintext bytes: %i segments, %i sealed bytes, and back', (plain, segments, sealed) => {
    expect(sealedSize(plain, layout)).toBe(sealed);
    expect(segmentCount(sealed, layout)).toBe(segments);
    expect(plaintextSize(sealed, layout)).toBe(plain);
  });

  // body lengths (sealed − header) no plaintext gives: shorter than a tag, or a final segment under 32 bytes
  it.each([0, 1, 31, 1056, 1056 + 31, 2 * 1056, 2 * 1056 + 5])('rejects a body of %i bytes', (body) => {
    expect(() => plaintextSize(300 + body, layout)).toThrow(IntegrityError);
    expect(() => segmentCount(300 + body, layout)).toThrow('invalid sealed file length');
  });

  it('maps every plaintext size to a distinct sealed size', () => {
    const seen = new Set<number>();
    for (let p = 0; p < 5000; p++) {
      const s = sealedSize(p, layout);
      expect(seen.has(s)).toBe(false);
      seen.add(s);
      expect(plaintextSize(s, layout)).toBe(p);
    }
  });

  it('gives the byte range of each segment', () => {
    const sealed = sealedSize(2500, layout); // 2 full segments, final of 452 bytes
    expect(sealedSegmentSpan(0, sealed, layout)).toEqual({ offset: 300, length: 1056, isLast: false });
    expect(sealedSegmentSpan(1, sealed, layout)).toEqual({ offset: 1356, length: 1056, isLast: false });
    expect(sealedSegmentSpan(2, sealed, layout)).toEqual({ offset: 2412, length: 452 + 32, isLast: true });
    expect(() => sealedSegmentSpan(3, sealed, layout)).toThrow(UsageError);
  });
});

describe('header', () => {
  const fileKey = randomBytes(32);
  const { bytes } = sealHeader({ salt: randomBytes(32), log2SegmentSize: 12, context: Buffer.from('{"a":1}'), recipients: [stanza, stanza] }, fileKey);

  it('parses incrementally: each answer asks for more than it was given, until complete', () => {
    let given = 0;
    const asked: number[] = [];
    for (;;) {
      const result = parseHeader(bytes.subarray(0, given));
      if (result.complete) {
        expect(result.header.bytes.equals(bytes)).toBe(true);
        expect(result.header.context.toString()).toBe('{"a":1}');
        expect(result.header.recipients).toHaveLength(2);
        expect(result.header.segmentSize).toBe(4096);
        break;
      }
      expect(result.needed).toBeGreaterThan(given);
      asked.push(result.needed);
      given = result.needed;
    }
    expect(asked.length).toBeGreaterThan(3);
    expect(given).toBe(bytes.length);
  });

  it('refuses bad magic from the first byte', () => {
    expect(() => parseHeader(Buffer.from([0x41]))).toThrow('bad magic');
  });

  it('verifies the tag with the right key only', () => {
    const parsed = parseHeader(bytes);
    if (!parsed.complete) return expect.fail('incomplete');
    expect(openHeader(parsed.header, fileKey).segmentSize).toBe(4096);
    expect(() => openHeader(parsed.header, randomBytes(32))).toThrow('invalid header tag');
  });

  it.each([
    [{ log2SegmentSize: 9 }, 'log2SegmentSize'],
    [{ log2SegmentSize: 25 }, 'log2SegmentSize'],
    [{ salt: Buffer.alloc(16) }, 'salt'],
    [{ recipients: [] }, 'recipients'],
    [{ context: Buffer.alloc(70_000) }, 'context'],
  ])('refuses to write %o', (change, message) => {
    const fields = { salt: randomBytes(32), recipients: [stanza], ...change };
    expect(() => encodeHeader(fields, deriveKeys(fileKey, randomBytes(32)).headerKey)).toThrow(message);
  });
});

describe('segments', () => {
  const fileKey = randomBytes(32);
  const { keys } = sealHeader({ salt: randomBytes(32), log2SegmentSize: 10, recipients: [stanza] }, fileKey);
  const plaintext = randomBytes(5 * 1024 + 77);
  const pieces = [0, 1, 2, 3, 4, 5].map((i) => plaintext.subarray(i * 1024, (i + 1) * 1024));

  it('lays out the IV as index, last flag, zero counter', () => {
    expect(segmentIv(258, true).toString('hex')).toBe('0000000000000102' + '01' + '00000000000000');
    expect(segmentIv(0, false).toString('hex')).toBe('00'.repeat(16));
  });

  it('opens segments independently and in any order (as workers do)', () => {
    const sealed = pieces.map((p, i) => sealSegment(keys, i, i === 5, p));
    // A structured clone is what a worker receives.
    const workerKeys = structuredClone(keys);
    const order = [4, 0, 5, 2, 1, 3];
    const opened = new Map(order.map((i) => [i, openSegment(workerKeys, i, i === 5, sealed[i] ?? Buffer.alloc(0))]));
    expect(Buffer.concat(pieces.map((_, i) => opened.get(i) ?? Buffer.alloc(0))).equals(plaintext)).toBe(true);
  });

  it('fails a segment opened at another index or with the other flag', () => {
    const sealed = sealSegment(keys, 2, false, pieces[2] ?? Buffer.alloc(0));
    expect(() => openSegment(keys, 3, false, sealed)).toThrow('invalid segment tag in segment 3');
    const last = sealSegment(keys, 5, true, pieces[5] ?? Buffer.alloc(0));
    expect(() => openSegment(keys, 5, false, last)).toThrow('invalid segment length in segment 5');
    const empty = sealSegment(keys, 1, true, Buffer.alloc(0));
    expect(empty).toHaveLength(TAG_LENGTH);
    expect(() => openSegment(keys, 1, true, Buffer.alloc(31))).toThrow(IntegrityError);
  });

  it('refuses to seal a full final segment or a short middle one', () => {
    expect(() => sealSegment(keys, 0, true, Buffer.alloc(1024))).toThrow(UsageError);
    expect(() => sealSegment(keys, 0, false, Buffer.alloc(1023))).toThrow(UsageError);
  });
});

describe('streams', () => {
  it('seals the same bytes from an async generator as from a buffer', async () => {
    const options = { fileKey: randomBytes(32), salt: randomBytes(32), log2SegmentSize: 10, recipients: [stanza] };
    const plaintext = randomBytes(3000);
    const parts: Buffer[] = [];
    for await (const piece of sealStream([plaintext.subarray(0, 5), plaintext.subarray(5)], options)) parts.push(piece);
    // The wrapped stanza is fixed, so both encodings are byte-identical.
    expect(Buffer.concat(parts).equals(sealBuffer(plaintext, options))).toBe(true);
    expect(unsealBuffer(Buffer.concat(parts), { fileKey: options.fileKey }).equals(plaintext)).toBe(true);
  });
});

describe('recipients', () => {
  const fileKey = randomBytes(32);

  it('wraps for several recipients and finds the key by key id', () => {
    const stanzas = [wrapFileKey(fileKey, createPublicKey(bob)), wrapFileKey(fileKey, createPublicKey(alice))];
    expect(Buffer.from(stanzas[1]?.keyId ?? []).equals(keyIdOf(alice))).toBe(true);
    expect(unwrapFileKeySync(stanzas, [alice]).equals(fileKey)).toBe(true);
    expect(unwrapFileKeySync(stanzas, [bob]).equals(fileKey)).toBe(true);
  });

  it('finds the key by trial when the key id was damaged, so the header tag reports the damage', () => {
    const stanza = wrapFileKey(fileKey, createPublicKey(alice));
    const damaged = { ...stanza, keyId: Buffer.alloc(8) };
    expect(unwrapFileKeySync([damaged], [alice]).equals(fileKey)).toBe(true);
  });

  it('tells a wrong key (exit 3) from a damaged wrapped key (exit 4)', () => {
    const stanza = wrapFileKey(fileKey, createPublicKey(alice));
    expect(() => unwrapFileKeySync([stanza], [bob])).toThrow(KeyError);
    expect(() => unwrapFileKeySync([stanza], [bob])).toThrow(`no key matches: this file is sealed for key ids ${keyIdOf(alice).toString('hex')}`);
    const wrapped = Buffer.from(stanza.wrappedKey);
    wrapped[10] = (wrapped[10] ?? 0) ^ 1;
    expect(() => unwrapFileKeySync([{ ...stanza, wrappedKey: wrapped }], [alice])).toThrow(IntegrityError);
  });

  it('refuses weak or non-RSA recipients', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(() => wrapFileKey(fileKey, small)).toThrow('at least 2048');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect(() => wrapFileKey(fileKey, ec)).toThrow('RSA certificate');
  });

  it('computes the key id of a certificate as SHA-256 of its SubjectPublicKeyInfo (as openssl does)', async () => {
    const dir = await tempDir();
    const keyPath = `${dir}/key.pem`;
    await writeFile(keyPath, vectorKeyPem('alice'), { mode: 0o600 });
    const cert = await openssl(['req', '-new', '-x509', '-key', keyPath, '-subj', '/CN=alice', '-days', '1']);
    const spki = await openssl(['pkey', '-in', keyPath, '-pubout', '-outform', 'DER']);
    const expected = createHash('sha256').update(spki.stdoutBytes).digest().subarray(0, 8);
    expect(keyIdOf(new X509Certificate(cert.stdout)).equals(expected)).toBe(true);
    expect(keyIdOf(alice).equals(expected)).toBe(true);
  });
});
