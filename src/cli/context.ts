/**
 * What every command receives: the standard streams, the environment, the configuration file and a
 * cancellation signal. Tests build one with their own streams and environment and run commands in
 * process (test/support/cli-in-process.ts); `run` in main.ts builds the real one.
 */
import { setMaxListeners } from 'node:events';
import type { ArchiveCryptConfig } from '../config/load.js';
import type { ReportChannel } from './output.js';

/** The streams and environment a context is made of; anything left out is the process's own. */
export interface CliStreams {
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
}

export class CliContext {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  readonly env: NodeJS.ProcessEnv;
  debug = false;
  /** The validated configuration file (`--config` or ARCHIVE_CRYPT_CONFIG); empty without one. */
  config: ArchiveCryptConfig = {};
  configFile: string | undefined;
  /** The signal that stopped the run (SIGINT, SIGTERM, SIGHUP, SIGQUIT), if one did. */
  interruptedBy: NodeJS.Signals | undefined;
  /** Set when the program reading stdout went away (EPIPE): the run stops and exits 6. */
  stdoutClosed = false;
  /**
   * Set by long-running commands (serve, worker): a stop signal is their normal end. They wind down
   * within their own grace period (docs/SERVICE.md) and the run exits 0 instead of 128 + n.
   */
  stopEndsNormally = false;
  /** Where the report of a command with `--json`/`--report` goes (src/cli/output.ts); set before its action. */
  report: ReportChannel | undefined;
  /** Runs once the command line is parsed, before the command's action (main.ts watches file sinks there). */
  beforeAction: (() => Promise<void>) | undefined;
  /** Output files committed during this run (what "was kept" when only the report failed). */
  readonly committedOutputs: string[] = [];
  private readonly controller = new AbortController();

  constructor(streams: CliStreams = {}) {
    // The commands use a small part of the WriteStream/ReadStream surface (write, isTTY, raw mode on a
    // real terminal); test doubles provide that part.
    this.stdout = (streams.stdout ?? process.stdout) as NodeJS.WriteStream;
    this.stderr = (streams.stderr ?? process.stderr) as NodeJS.WriteStream;
    this.stdin = (streams.stdin ?? process.stdin) as NodeJS.ReadStream;
    this.env = streams.env ?? process.env;
    // Every archive of a batch and every ranged GET listens on this one signal: not a leak.
    setMaxListeners(0, this.controller.signal);
  }

  /** Aborted on a stop signal or a closed stdout: commands pass it down so that partial output is removed. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops the work: the commands see `signal` aborted, remove their partial output and return. */
  abort(): void {
    this.controller.abort();
  }

  /** Writes a line to stderr unless quiet. */
  info(line: string, quiet = false): void {
    if (!quiet) this.stderr.write(`${line}\n`);
  }

  /**
   * Whether plaintext may be written to a named file. A restriction from either place wins:
   * ARCHIVE_CRYPT_PLAINTEXT_FILES=deny or the config file's `policy.plaintextFiles: "deny"`.
   */
  get plaintextFilesAllowed(): boolean {
    return (this.env.ARCHIVE_CRYPT_PLAINTEXT_FILES ?? '').toLowerCase() !== 'deny' && this.config.policy?.plaintextFiles !== 'deny';
  }
}

/** Resolves once everything written to `stream` went out, or the stream failed. */
export async function flushed(stream: NodeJS.WritableStream & { destroyed?: boolean; writable?: boolean }): Promise<void> {
  if (!stream.destroyed && stream.writable !== false) await new Promise<void>((resolve) => stream.write('', () => resolve()));
  // The 'error' event of a failed write (EPIPE: it sets ctx.stdoutClosed) comes after its callback.
  await new Promise((resolve) => setImmediate(resolve));
}
