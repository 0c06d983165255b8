/**
 * Runs the CLI in this process with its own streams and environment (no child process): the program
 * and error reporting of src/cli/main.ts (`execute`), a CliContext whose stdout/stderr are collected,
 * whose stdin carries `input` (not a terminal), and whose environment is exactly `env`.
 */
import { PassThrough, Writable } from 'node:stream';
import { CliContext } from '../../src/cli/context.js';
import { execute } from '../../src/cli/main.js';

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export async function runCliInProcess(args: string[], env: NodeJS.ProcessEnv = {}, input: Buffer | string = ''): Promise<InProcessResult> {
  const stdout = collector();
  const stderr = collector();
  const stdin = Object.assign(new PassThrough(), { isTTY: false });
  stdin.end(input);
  const ctx = new CliContext({ stdout: stdout.stream, stderr: stderr.stream, stdin, env });
  const code = await execute(ctx, args);
  await new Promise((resolve) => setImmediate(resolve));
  const stdoutBytes = stdout.bytes();
  return { code, stdout: stdoutBytes.toString('utf8'), stderr: stderr.bytes().toString('utf8'), stdoutBytes };
}

function collector() {
  const chunks: Buffer[] = [];
  // A Writable that copies each chunk before its write callback: the engine's writeAndRelease reuses
  // the memory once the callback has run (a pipe or file has written the bytes by then). Keeping a
  // reference, as a PassThrough's reader would, showed later windows' bytes in earlier places.
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(Buffer.from(chunk));
        callback();
      },
    }),
    { isTTY: false },
  );
  return { stream, bytes: () => Buffer.concat(chunks) };
}
