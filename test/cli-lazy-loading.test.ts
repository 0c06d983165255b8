/**
 * Lean start-up (docs/ARCHITECTURE.md §4): a real process, because what a fresh process loads is
 * the point. A module-resolution hook logs every module the CLI loads; `--version`, `decrypt --help`
 * and `decrypt` of a local file must not load the storage SDKs, node-forge, the service stack or
 * another command's module. A control run proves the log sees a package that does load. No timing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runProgram, tempDir } from './support/helpers.js';
import { passArgs, passEnv, privateKeyCopy, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
let key: string;
let register: string;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-lazy-');
  key = await privateKeyCopy(dir);
  // The hook runs on the loader thread: it appends synchronously, so nothing is lost at exit.
  await writeFile(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.LOAD_LOG, result.url + '\\n');
  return result;
}
`,
  );
  register = join(dir, 'register.mjs');
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
});

let runs = 0;
/** Runs the CLI in a fresh process and returns its exit code and the modules it loaded. */
async function loaded(args: string[]): Promise<{ code: number; modules: string[]; stderr: string }> {
  const log = join(dir, `loads-${(runs += 1)}.log`);
  await writeFile(log, '');
  const result = await runProgram(process.execPath, ['--import', register, cliPath, ...args], { env: { ...passEnv, LOAD_LOG: log } });
  return { code: result.code, stderr: result.stderr, modules: (await readFile(log, 'utf8')).split('\n').filter((url) => url.startsWith('file:')) };
}

const heavy = ['@aws-sdk', '@azure', 'node-forge', 'bullmq', 'ioredis', 'pino', 'zod', 'piscina', 'jose', 'prom-client', 'cli-progress'];
const packagesIn = (modules: string[]) => [...new Set(modules.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []))];
const heavyIn = (modules: string[]) => packagesIn(modules).filter((name) => heavy.some((prefix) => name === prefix || name.startsWith(`${prefix}/`)));

describe('start-up loads only what the command needs', () => {
  it('--version loads nothing but the entry point (not even commander)', async () => {
    const result = await loaded(['--version']);
    expect(result.code).toBe(0);
    expect(packagesIn(result.modules)).toEqual([]);
    expect(result.modules.filter((url) => url.includes('/dist/'))).toEqual([]);
  });

  it('decrypt --help loads commander and decrypt, no other command and no heavy package', async () => {
    const result = await loaded(['decrypt', '--help']);
    expect(result.code).toBe(0);
    expect(heavyIn(result.modules)).toEqual([]);
    const commands = result.modules.filter((url) => url.includes('/dist/cli/commands/')).map((url) => url.replace(/^.*\/commands\//, ''));
    expect(commands.sort()).toEqual(['decrypt.js', 'index.js']);
  });

  it('decrypt of a local file loads neither the S3 nor the Azure SDK, nor node-forge or the service stack', async () => {
    const result = await loaded(['decrypt', fx.archive, '--key', key, ...passArgs, '--archive-json', fx.archiveJson, '--quiet']);
    expect(result.code).toBe(0);
    expect(heavyIn(result.modules)).toEqual([]);
  });

  it('control: a decrypt from s3:// does load the S3 SDK (the log sees what loads)', async () => {
    const result = await loaded(['decrypt', 's3://bucket/archive.mp4', '--s3-endpoint', 'http://127.0.0.1:9', '--retries', '0', '--key', key, ...passArgs, '--password-file', fx.passwordFile]);
    expect(result.code).toBe(5);
    expect(heavyIn(result.modules)).toContain('@aws-sdk/client-s3');
  });
});
