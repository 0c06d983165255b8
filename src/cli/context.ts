/** What every command receives: the standard streams, the environment and a cancellation signal. */
export class CliContext {
  readonly stdout: NodeJS.WriteStream = process.stdout;
  readonly stderr: NodeJS.WriteStream = process.stderr;
  readonly stdin: NodeJS.ReadStream = process.stdin;
  readonly env: NodeJS.ProcessEnv = process.env;
  debug = false;
  private readonly controller = new AbortController();
  private interrupts = 0;

  /** Aborted on Ctrl-C or SIGTERM: commands pass it down so that partial output is removed. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(): void {
    this.interrupts += 1;
    // A second Ctrl-C means "now": cleanup already ran or is stuck.
    if (this.interrupts > 1) process.exit(130);
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
