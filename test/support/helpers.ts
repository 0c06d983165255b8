/** Shared test helpers: run the built CLI and openssl as child processes, temporary folders. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const cliPath = join(repoRoot, 'bin', 'archive-crypt.js');
export const fixtures = join(repoRoot, 'test', 'fixtures');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: Buffer | string;
  cwd?: string;
}

/** Runs a program to completion and collects its output (never throws on a non-zero exit). */
export function runProgram(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
}

/** Runs the built CLI (`bin/archive-crypt.js`). */
export function runCli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runProgram(process.execPath, [cliPath, ...args], options);
}

/** Runs the openssl command line; throws with its stderr when it fails. */
export async function openssl(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await runProgram('openssl', args, options);
  if (result.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  return result;
}

const temporaryDirs: string[] = [];

/**
 * Removes every folder `tempDir` made so far. test/support/each-file.ts runs it after each test file:
 * with `isolate: false` this module is loaded once per worker, so an afterAll registered here would
 * run after the worker's first file only, and every later file's folders would stay in /tmp.
 */
export async function removeTemporaryDirs(): Promise<void> {
  await Promise.all(temporaryDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** A temporary folder removed after the test file. */
export async function tempDir(prefix = 'archive-crypt-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  temporaryDirs.push(dir);
  return dir;
}
