/**
 * Cancellation of `unseal` through the built CLI: Ctrl-C while the body is streaming in removes the
 * partial output and exits 130 (the engine side is in unseal-engine.test.ts).
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sealBuffer } from '../src/format/sealed-stream.js';
import { wrapFileKey } from '../src/keys/recipients.js';
import { tempDir } from './support/helpers.js';
import { interruptWhileWriting } from './support/processes.js';
import { vectorKeyPem } from './support/sealed-vectors.js';

const alicePem = vectorKeyPem('alice');
let dir: string;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-unseal-cli-');
  await writeFile(join(dir, 'alice.pem'), alicePem, { mode: 0o600 });
});

describe('unseal: Ctrl-C', () => {
  it('removes the partial output file and exits 130', async () => {
    const fileKey = randomBytes(32);
    const sealed = sealBuffer(randomBytes(4 * 1024 * 1024), { fileKey, salt: randomBytes(32), recipients: [wrapFileKey(fileKey, createPublicKey(alicePem))] });
    const work = join(dir, 'ctrl-c');
    await mkdir(work);
    // Most of the file, then stdin stays open; the signal comes once verified plaintext has reached the
    // unfinished output: cancellation mid-body.
    const { code, stderr } = await interruptWhileWriting(['unseal', '-', '--key', join(dir, 'alice.pem'), '--output', join(work, 'out.ts')], work, {
      input: sealed.subarray(0, sealed.length - 100_000),
      minBytes: 1,
    });
    expect(code).toBe(130);
    expect(stderr).toBe('archive-crypt: stopped by SIGINT; unfinished output was removed\n');
    expect(await readdir(work)).toEqual([]);
  });
});
