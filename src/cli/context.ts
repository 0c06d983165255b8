import { setMaxListeners } from 'node:events';

/** What every command receives: the standard streams, the environment and a cancellation signal. */
export class CliContext {
  readonly stdout: NodeJS.WriteStream = process.stdout;
  readonly stderr: NodeJS.WriteStream = process.stderr;
  readonly stdin: NodeJS.ReadStream = process.stdin;
  readonly env: NodeJS.ProcessEnv = process.env;
  debug = false;
  /** The signal that stopped the run (SIGINT, SIGTERM, SIGHUP, SIGQUIT), if one did. */
  interruptedBy: NodeJS.Signals | undefined;
  /** Set when the program reading stdout went away (EPIPE): the run stops and exits 6. */
  stdoutClosed = false;
  /** Output files committed during this run (what "was kept" when only the report failed). */
  readonly committedOutputs: string[] = [];
  private readonly controller = new AbortController();

  constructor() {
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

  /** Whether plaintext may be written to a named file (policy ARCHIVE_CRYPT_PLAINTEXT_FILES=deny). */
  get plaintextFilesAllowed(): boolean {
    return (this.env.ARCHIVE_CRYPT_PLAINTEXT_FILES ?? '').toLowerCase() !== 'deny';
  }
}
