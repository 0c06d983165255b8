/**
 * Runs the CLI in this process with its own streams and environment (no child process): the program
 * and error reporting of src/cli/main.ts, a CliContext whose stdout/stderr are collected, whose stdin
 * is not a terminal, and whose environment is exactly `env`.
 */
import { PassThrough } from 'node:stream';
import { buildProgram, reportError } from '../../src/cli/main.js';
import { CliContext } from '../../src/cli/context.js';

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCliInProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<InProcessResult> {
  const ctx = new CliContext();
  const stdout = collector();
  const stderr = collector();
  const stdin = Object.assign(new PassThrough(), { isTTY: false });
  stdin.end();
  for (const [name, value] of Object.entries({ stdout: stdout.stream, stderr: stderr.stream, stdin, env })) {
    Object.defineProperty(ctx, name, { value });
  }
  let code = 0;
  try {
    await buildProgram(ctx).parseAsync(args, { from: 'user' });
  } catch (error) {
    code = reportError(ctx, error);
  }
  await new Promise((resolve) => setImmediate(resolve));
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function collector() {
  const chunks: Buffer[] = [];
  const stream = Object.assign(new PassThrough(), { isTTY: false });
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}
