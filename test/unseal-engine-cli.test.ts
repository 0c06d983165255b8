/**
 * Cancellation of `unseal` through the built CLI: Ctrl-C while the body is streaming in removes the
 * partial output and exits 130 (the engine side is in unseal-engine.test.ts).
 */
import { spawn } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sealBuffer } from '../src/format/sealed-stream.js';
import { wrapFileKey } from '../src/keys/recipients.js';
import { cliPath, tempDir } from './support/helpers.js';
import { waitForOutputOpen } from './support/processes.js';
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
    const output = join(work, 'out.ts');
    const child = spawn(process.execPath, [cliPath, 'unseal', '-', '--key', join(dir, 'alice.pem'), '--output', output], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.on('error', () => undefined); // EPIPE once the child is gone
    // Most of the file, then stdin stays open: the run is mid-way when the signal comes.
    child.stdin.write(sealed.subarray(0, sealed.length - 100_000));
    // Wait until verified plaintext has reached the unfinished output: cancellation mid-body.
    await waitForOutputOpen(child.pid ?? 0, work, closed.then(() => 0), 1);
    child.kill('SIGINT');
    const code = await closed;
    child.stdin.destroy();
    expect(code).toBe(130);
    expect(stderr).toBe('archive-crypt: stopped by SIGINT; unfinished output was removed\n');
    expect(await readdir(work)).toEqual([]);
  });
});
