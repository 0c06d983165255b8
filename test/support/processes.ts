/**
 * Real CLI processes for the fault suite: start one, wait until it holds its output open (an unnamed
 * O_TMPFILE file shows only in /proc/<pid>/fd, a named partial in the folder), stop it, and read
 * what it left. Linux only, like the crash guarantee it checks (docs/RELIABILITY.md).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cliPath, repoRoot } from './helpers.js';

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the exit code, or 128 + n when killed by signal n (as a shell reports it). */
  exited: Promise<number>;
  stderr(): string;
  stdout(): Buffer;
}

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number>((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumbers[signal] ?? 0) : -1))),
  );
  return { child, exited, stderr: () => err, stdout: () => Buffer.concat(out) };
}

/**
 * Resolves once `pid` has a file open in `folder` (named or unnamed) holding at least `minBytes`.
 * Rejects if the process exits first.
 */
export async function waitForOutputOpen(pid: number, folder: string, exited: Promise<number>, minBytes = 0): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error('the process exited before it opened its output');
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const path = `/proc/${pid}/fd/${fd}`;
      const target = await readlink(path).catch(() => '');
      if (target.startsWith(`${folder}/`) && (minBytes === 0 || ((await stat(path).catch(() => undefined))?.size ?? 0) >= minBytes)) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Ctrl-C mid-run: starts the CLI, writes `input` to its stdin and keeps stdin open (so the run cannot
 * finish), waits until it holds its output open in `folder` with at least `minBytes`, then sends
 * SIGINT. Resolves with its exit code (137 if it had to be SIGKILLed, 10 s after SIGINT) and stderr.
 */
export async function interruptWhileWriting(
  args: string[],
  folder: string,
  { env = {}, input, minBytes = 0 }: { env?: NodeJS.ProcessEnv; input?: Buffer; minBytes?: number } = {},
): Promise<{ code: number; stderr: string }> {
  const run = startCli(args, env);
  if (input) run.child.stdin.write(input);
  await waitForOutputOpen(run.child.pid ?? 0, folder, run.exited, minBytes);
  run.child.kill('SIGINT');
  const hung = setTimeout(() => run.child.kill('SIGKILL'), 10_000);
  const code = await run.exited;
  clearTimeout(hung);
  run.child.stdin.destroy();
  return { code, stderr: run.stderr() };
}

/** Every entry left in `folder`, hidden ones included, sorted. */
export async function leftIn(folder: string): Promise<string[]> {
  return (await readdir(folder)).sort();
}

export { join };
