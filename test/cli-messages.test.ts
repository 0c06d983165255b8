/**
 * Messages of the archive commands: `decrypt` of a sealed file says to use unseal (exit 4), and the
 * example in `unseal --help` is the command line and the line unseal really prints.
 */
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-messages-');
  key = await privateKeyCopy(dir);
});

describe('decrypt of a file that is not a Vonage archive', () => {
  it.each(['decrypt', 'reseal'])('%s of a sealed file: "use unseal", exit 4, one line, in the JSON too', async (command) => {
    const sealed = join(dir, `${command}.sealed`);
    expect((await runCliInProcess(['seal', fx.sample, '--to', fx.certPem, '--output', sealed])).code).toBe(0);
    const args = [command, sealed, '--key', key, ...passArgs, '--password-file', fx.passwordFile, ...(command === 'reseal' ? ['--to', fx.certPem, '--output', join(dir, 'never.sealed')] : [])];
    const result = await runCliInProcess(args, passEnv);
    expect(result.code).toBe(4);
    expect(result.stderr).toBe(`archive-crypt: ${sealed} is a sealed file (archive-crypt's own format), not a Vonage archive: use archive-crypt unseal\n`);
    const json = await runCliInProcess([...args, '--json'], passEnv);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, exitCode: 4, error: { code: 'ERR_INTEGRITY', message: expect.stringMatching(/use archive-crypt unseal$/) as unknown } });
  });

  it('control: any other file of a wrong length keeps the length message', async () => {
    const result = await runCliInProcess(['decrypt', fx.sample, '--key', key, ...passArgs, '--password-file', fx.passwordFile], passEnv);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^archive-crypt: archive length \d+ is not a multiple of 16[^\n]*\n$/);
  });
});

describe('unseal --help', () => {
  it('its example prints what the help says it prints', async () => {
    const help = (await runCliInProcess(['unseal', '--help'])).stdout.split('\n');
    const at = help.findIndex((line) => line.startsWith('  $ archive-crypt unseal meeting.sealed '));
    expect(at).toBeGreaterThan(0);
    const args = (help[at] ?? '').replace('  $ archive-crypt ', '').split(' ');
    const printed = `${(help[at + 1] ?? '').trim()}\n`;
    // The example's world: meeting.ts (the sample, 67868 bytes) sealed elsewhere, the key and the sealed file here.
    const source = join(dir, 'source');
    const here = join(dir, 'here');
    await mkdir(source);
    await mkdir(here);
    await copyFile(fx.sample, join(source, 'meeting.ts'));
    expect((await stat(join(source, 'meeting.ts'))).size).toBe(67868);
    expect((await runCliInProcess(['seal', join(source, 'meeting.ts'), '--to', fx.certPem, '--output', join(here, 'meeting.sealed')])).code).toBe(0);
    await privateKeyCopy(here, 'archive-private-key.pem');
    const result = await runCli(args, { cwd: here, env: { KEY_PASS: passEnv.FIXTURE_PASS } });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(printed);
    expect((await readFile(join(here, 'meeting.ts'))).equals(await readFile(fx.sample))).toBe(true);
  });
});
