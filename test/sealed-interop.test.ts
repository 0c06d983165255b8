/**
 * Interop: reads a sealed vector with nothing but the openssl command line and the byte offsets of
 * docs/FORMAT.md (no code from src/), proving the specification is complete: unwrap the file key
 * (pkeyutl, OAEP-SHA-256 with the label), derive the keys (kdf HKDF), check the header tag and segment
 * tags (dgst -mac HMAC) and decrypt segments (enc -aes-256-ctr).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openssl, tempDir } from './support/helpers.js';
import { vectorKeyPem, vectorNamed, vectorPlaintext } from './support/sealed-vectors.js';



/** The header fields as FORMAT.md §2 lays them out, read by hand. */
function readHeader(file: Buffer) {
  const log2 = file[10] ?? 0;
  const salt = file.subarray(12, 44);
  const contextLength = file.readUInt16BE(44);
  let offset = 46 + contextLength;
  const count = file.readUInt16BE(offset);
  offset += 2;
  const stanzas: { keyId: Buffer; wrapped: Buffer }[] = [];
  for (let i = 0; i < count; i++) {
    const length = file.readUInt16BE(offset + 9);
    stanzas.push({ keyId: file.subarray(offset + 1, offset + 9), wrapped: file.subarray(offset + 11, offset + 11 + length) });
    offset += 11 + length;
  }
  return { segmentSize: 2 ** log2, salt, stanzas, withoutTag: file.subarray(0, offset), tag: file.subarray(offset, offset + 32), length: offset + 32 };
}

describe('sealed format with the openssl command line', () => {
  it('unwraps, derives, verifies and decrypts segments of a vector as FORMAT.md says', async () => {
    const vector = vectorNamed('many segments');
    const dir = await tempDir();
    const file = Buffer.from(vector.sealed, 'base64');
    const header = readHeader(file);
    const at = (name: string) => join(dir, name);
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

    // 1. The file key, from alice's stanza (the vector has one).
    await writeFile(at('key.pem'), vectorKeyPem('alice'), { mode: 0o600 });
    await writeFile(at('wrapped.bin'), header.stanzas[0]?.wrapped ?? expect.fail('no stanza'));
    await openssl([
      'pkeyutl', '-decrypt', '-inkey', at('key.pem'), '-in', at('wrapped.bin'), '-out', at('filekey.bin'),
      '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256',
      '-pkeyopt', `rsa_oaep_label:${hex(Buffer.from('archive-crypt/v1'))}`,
    ]);
    const fileKey = await readFile(at('filekey.bin'));
    expect(hex(fileKey)).toBe(vector.fileKey);

    // 2. HKDF-SHA256 with the three info strings.
    const derive = async (info: string) => {
      const { stdout } = await openssl([
        'kdf', '-keylen', '32', '-kdfopt', 'digest:SHA256', '-kdfopt', `hexkey:${hex(fileKey)}`,
        '-kdfopt', `hexsalt:${hex(header.salt)}`, '-kdfopt', `info:${info}`, 'HKDF',
      ]);
      return stdout.trim().replaceAll(':', '').toLowerCase();
    };
    const headerKey = await derive('archive-crypt/v1/header');
    const encryptionKey = await derive('archive-crypt/v1/encryption');
    const macKey = await derive('archive-crypt/v1/mac');

    const hmac = async (key: string, data: Buffer) => {
      await writeFile(at('mac-input.bin'), data);
      const { stdout } = await openssl(['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${key}`, at('mac-input.bin')]);
      return stdout.trim().split(' ').at(-1);
    };
    // 3. Header tag.
    expect(await hmac(headerKey, header.withoutTag)).toBe(hex(header.tag));

    // 4–5. Every segment: tag over header tag ‖ IV ‖ C, then AES-256-CTR.
    const full = header.segmentSize + 32;
    const body = file.subarray(header.length);
    const count = Math.floor(body.length / full) + 1;
    expect(count).toBe(6);
    for (const index of [0, 3, count - 1]) {
      const isLast = index === count - 1;
      const segment = body.subarray(index * full, isLast ? body.length : (index + 1) * full);
      const ciphertext = segment.subarray(0, segment.length - 32);
      const iv = Buffer.alloc(16);
      iv.writeBigUInt64BE(BigInt(index));
      iv[8] = isLast ? 1 : 0;
      expect(await hmac(macKey, Buffer.concat([header.tag, iv, ciphertext]))).toBe(hex(segment.subarray(-32)));
      await writeFile(at('ciphertext.bin'), ciphertext);
      await openssl(['enc', '-d', '-aes-256-ctr', '-K', encryptionKey, '-iv', hex(iv), '-in', at('ciphertext.bin'), '-out', at('plain.bin')]);
      const decrypted = await readFile(at('plain.bin'));
      const start = index * header.segmentSize;
      expect(decrypted.equals(vectorPlaintext(vector.plaintextSize).subarray(start, start + ciphertext.length))).toBe(true);
    }
    // The wrong flag gives a different tag: the last flag really is part of the MAC input.
    const last = body.subarray((count - 1) * full);
    const wrongIv = Buffer.alloc(16);
    wrongIv.writeBigUInt64BE(BigInt(count - 1));
    expect(await hmac(macKey, Buffer.concat([header.tag, wrongIv, last.subarray(0, -32)]))).not.toBe(hex(last.subarray(-32)));
    expect(createHash('sha256').update(vectorPlaintext(vector.plaintextSize)).digest('hex')).toBe(vector.plaintextSha256);
  });
});
