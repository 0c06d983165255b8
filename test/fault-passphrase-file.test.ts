/**
 * Passphrase files (docs/RELIABILITY.md): the first line only, as `openssl -passin file:` reads it;
 * a file readable by group or others is refused like a key (exit 3); an empty name for an output is
 * a usage error (exit 2). Runs the CLI in process.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;

beforeAll(async () => {
  dir = await tempDir();
  key = await privateKeyCopy(dir, 'key.pem');
});

const decrypt = (passFile: string, extra: string[] = []) =>
  runCliInProcess(['decrypt', fx.archive, '--key', key, '--passphrase-file', passFile, '--password-file', fx.passwordFile, ...extra]);

describe('--passphrase-file', () => {
  it('uses the first line only: a second line does not lock the key out', async () => {
    const file = join(dir, 'two-lines.txt');
    await writeFile(file, 'fixture-passphrase\nsecond line\n', { mode: 0o600 });
    const result = await decrypt(file, ['--quiet']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('refuses a file readable by group or others (exit 3), naming the fix and never the passphrase', async () => {
    const file = join(dir, 'loose.txt');
    await writeFile(file, 'fixture-passphrase\n', { mode: 0o644 });
    const result = await decrypt(file);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^archive-crypt: passphrase file .*loose\.txt is accessible by group or others .*chmod 600.*\n$/);
    expect(result.stderr).not.toContain('fixture-passphrase');
  });
});

describe('an empty output name', () => {
  it('is a usage error (exit 2) and writes nothing', async () => {
    const file = join(dir, 'ok.txt');
    await writeFile(file, 'fixture-passphrase\n', { mode: 0o600 });
    const before = await readdir(dir);
    const result = await decrypt(file, ['--output', '']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^archive-crypt: --output is empty: give a file name or - for stdout\n$/);
    expect(await readdir(dir)).toEqual(before);
  });
});
