/**
 * Input that ends inside the header, or is not a sealed file at all: the bytes there are parsed as
 * far as they go, so the pure parser (truncatedHeaderError), the streaming unsealer and unsealArchive
 * (file and stream) give the same one line — "not a sealed archive-crypt file" for a wrong magic
 * however short, a malformed field as soon as its byte is there, and for a clean truncation the part
 * that is missing, at every prefix length of a two-recipient header with a context.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError } from '../src/errors.js';
import { unsealArchive } from '../src/engine/sealed/unseal.js';
import { nullSink } from '../src/engine/output.js';
import { SALT_LENGTH, TAG_LENGTH, parseHeader, truncatedHeaderError } from '../src/format/sealed.js';
import { sealBuffer, unsealBuffer } from '../src/format/sealed-stream.js';
import { wrapFileKey } from '../src/keys/recipients.js';
import { FileSource, StreamSource } from '../src/storage/file.js';
import { tempDir } from './support/helpers.js';
import { vectorPrivateKey } from './support/sealed-vectors.js';

const alice = createPublicKey(vectorPrivateKey('alice'));
const bob = createPublicKey(vectorPrivateKey('bob'));

const fileKey = randomBytes(32);
const context = Buffer.from('{"archiveId":"a1"}');
const sealed = sealBuffer(Buffer.from('some media'), { fileKey, salt: randomBytes(32), context, recipients: [wrapFileKey(fileKey, alice), wrapFileKey(fileKey, bob)] });
const parsed = parseHeader(sealed);
if (!parsed.complete) throw new Error('the test header does not parse');
const header = parsed.header;
const headerLength = header.bytes.length;

/** The part a prefix of `length` bytes ends in, from the layout of docs/FORMAT.md §3. */
function partAt(length: number): string {
  const parts: [number, string][] = [
    [8, 'magic'],
    [9, 'version'],
    [10, 'cipher suite'],
    [11, 'segment size'],
    [12, 'reserved byte'],
    [12 + SALT_LENGTH, 'salt'],
    [46, 'context length'],
    [46 + context.length, 'context'],
    [48 + context.length, 'recipient count'],
  ];
  let end = 48 + context.length;
  header.recipients.forEach((stanza, i) => {
    const which = `recipient ${i + 1} of ${header.recipients.length}`;
    end += 11;
    parts.push([end, which]);
    end += stanza.wrappedKey.length;
    parts.push([end, `wrapped key of ${which}`]);
  });
  parts.push([end + TAG_LENGTH, 'header tag']);
  const part = parts.find(([partEnd]) => length < partEnd);
  if (!part) throw new Error(`${length} is not inside the header`);
  return part[1];
}

const expectedTruncation = (length: number) =>
  `truncated sealed file: header incomplete (${length === 0 ? 'the file is empty' : `ends after ${length} bytes, in the ${partAt(length)}`})`;

/** The message of the error `run` throws (it must throw). */
function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(IntegrityError);
    return (error as Error).message;
  }
  return expect.fail('no error');
}

let dir: string;
let counter = 0;
beforeAll(async () => {
  dir = await tempDir('archive-crypt-header-');
});

/** unsealArchive's message for `bytes` from a file and from a stream fed in 5-byte chunks (both must agree). */
async function engineMessage(bytes: Buffer): Promise<string> {
  const path = join(dir, `h-${counter++}.bin`);
  await writeFile(path, bytes);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 5) chunks.push(bytes.subarray(at, at + 5));
  const messages: string[] = [];
  for (const source of [new FileSource(path), new StreamSource(Readable.from(chunks), 'stream')]) {
    const error = await unsealArchive({ source, fileKey, sink: nullSink() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).exitCode).toBe(4);
    messages.push((error as Error).message);
  }
  expect(messages[1]).toBe(messages[0]);
  return messages[0] ?? '';
}

describe('a sealed file cut inside its header', () => {
  it('names the missing part at every prefix length (parser and streaming unsealer)', () => {
    for (let length = 0; length < headerLength; length++) {
      const prefix = sealed.subarray(0, length);
      expect(truncatedHeaderError(prefix).message, `${length} bytes`).toBe(expectedTruncation(length));
      expect(messageOf(() => unsealBuffer(prefix, { fileKey })), `${length} bytes`).toBe(expectedTruncation(length));
    }
  });

  it.each([0, 1, 7, 8, 11, 12, 30, 44, 45, 46, 50, 64, 65, 66, 80, 200, headerLength - 1])('unsealArchive says the same after %i bytes', async (length) => {
    expect(await engineMessage(sealed.subarray(0, length))).toBe(expectedTruncation(length));
  });
});

describe('input that is not a sealed file, or is malformed before it ends', () => {
  const notSealed: [string, Buffer][] = [
    ['one text byte', Buffer.from('h')],
    ['a short text file', Buffer.from('hello, world\n')],
    ['an MPEG-TS packet', Buffer.concat([Buffer.from([0x47]), Buffer.alloc(187)])],
    ['the magic with its last byte wrong', Buffer.concat([sealed.subarray(0, 7), Buffer.from([0x0d]), sealed.subarray(8)])],
  ];
  it.each(notSealed)('%s: not a sealed archive-crypt file (bad magic)', async (_name, bytes) => {
    const expected = 'not a sealed archive-crypt file (bad magic)';
    // The parser alone, on at most the magic's 8 bytes: it throws rather than call them a truncation.
    expect(
      messageOf(() => {
        throw truncatedHeaderError(bytes.subarray(0, Math.min(bytes.length, 8)));
      }),
    ).toBe(expected);
    expect(messageOf(() => unsealBuffer(bytes, { fileKey }))).toBe(expected);
    expect(await engineMessage(bytes)).toBe(expected);
  });

  const withByte = (at: number, value: number, length: number) => {
    const bytes = Buffer.from(sealed.subarray(0, length));
    bytes[at] = value;
    return bytes;
  };
  it.each([
    ['version 2, 9 bytes', withByte(8, 2, 9), 'unsupported sealed format version 2'],
    ['suite 7, 10 bytes', withByte(9, 7, 10), 'unsupported sealed cipher suite 7'],
    ['segment size 2^30, 11 bytes', withByte(10, 30, 11), 'segment size 2^30 out of range'],
    ['reserved 1, 20 bytes', withByte(11, 1, 20), 'reserved byte is not zero'],
    ['recipient type 9, the first stanza cut', withByte(48 + context.length, 9, 48 + context.length + 3), 'unknown recipient type 9'],
  ])('%s: the field is refused, not called a truncation', async (_name, bytes, expected) => {
    expect(
      messageOf(() => {
        throw truncatedHeaderError(bytes);
      }),
    ).toContain(expected);
    expect(messageOf(() => unsealBuffer(bytes, { fileKey }))).toContain(expected);
    expect(await engineMessage(bytes)).toContain(expected);
  });
});
