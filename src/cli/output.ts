/**
 * Where a command's report goes — one place for every command (docs/CLI.md, "JSON reports"):
 *
 * - without flags, a short human summary on stderr (stdout may carry the media);
 * - `--json`: exactly one JSON document on stdout and nothing else there, or on stderr when stdout
 *   carries the output itself (`--output -`);
 * - `--report FILE`: the same document in FILE (mode 0600), committed atomically like any output.
 *
 * A failed run gives a document too: what is known of the run, `ok: false`,
 * `error: {message, code}` and `exitCode`. main.ts writes it for failures the command did not report
 * itself (bad flags, the config file), so every exit path of a reporting command ends in one document.
 */
import { randomBytes } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { constants } from 'node:os';
import { CommanderError, type Command } from 'commander';
import { ArchiveCryptError, ExitCode, OutputError } from '../errors.js';
import type { CliContext } from './context.js';

/** The report flags as commander hands them over (see `addReportOptions`). */
export interface ReportFlags {
  json?: boolean;
  report?: string;
}

/** The `error` member of a failure document. */
export interface ReportedError {
  message: string;
  /** The stable code of src/errors.ts, or ERR_UNEXPECTED. */
  code: string;
}

/**
 * Adds `--json` and `--report <file>`. `mediaFlows` says whether the command can put its output on
 * stdout (`--output -`), which sends the JSON to stderr.
 */
export function addReportOptions(command: Command, mediaFlows = true): Command {
  return command
    .option('--json', `print the report as one JSON document on stdout${mediaFlows ? ' (on stderr with --output -)' : ''}`)
    .option('--report <file>', 'also write the JSON report to FILE (mode 0600; an older report there is replaced atomically)');
}

/** Pretty JSON with a final newline. */
export function toJsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The exit code the run ends with for `error` (main.ts reports it the same way). */
export function exitCodeFor(ctx: CliContext, error: unknown): number {
  if (ctx.interruptedBy !== undefined) return 128 + constants.signals[ctx.interruptedBy];
  if (error instanceof CommanderError) return ExitCode.usage;
  return error instanceof ArchiveCryptError ? error.exitCode : ExitCode.unexpected;
}

/** `{message, code}` of any failure; never a stack, never anything but the one-line message. */
export function reportedError(error: unknown): ReportedError {
  if (error instanceof ArchiveCryptError) return { message: error.message, code: error.code };
  // Commander's own refusals (unknown option, missing argument) are bad usage like any UsageError.
  if (error instanceof CommanderError) return { message: error.message.replace(/^error: /, ''), code: 'ERR_USAGE' };
  const message = error instanceof Error ? error.message : String(error);
  return { message: message.split('\n', 1)[0] ?? '', code: 'ERR_UNEXPECTED' };
}

/**
 * The report channel of one run. Created by main.ts before the command's action (from the parsed
 * flags) and reached through `ctx.report`; a command calls `success` once, or `failure` with what it
 * knows, and main.ts calls `failure` for anything left.
 */
export class ReportChannel {
  private sent = false;
  /** What a failure document starts with (source, output…); the pipeline fills it in as it learns. */
  base: Record<string, unknown> = {};

  constructor(
    private readonly ctx: CliContext,
    private readonly flags: ReportFlags,
    /** True when stdout carries the output (`--output -`): the JSON goes to stderr. */
    private readonly mediaOnStdout: boolean,
  ) {}

  /** True when the human summary and the progress bar stay off (the JSON is the report). */
  get json(): boolean {
    return this.flags.json === true;
  }

  /** True once a document was written. */
  get done(): boolean {
    return this.sent;
  }

  /** Reports a success: the document as JSON where asked, else `text` on stderr (unless quiet). */
  async success(document: Record<string, unknown>, text: string | undefined, quiet = false): Promise<void> {
    await this.emit({ ok: true, ...document });
    if (!this.json && !quiet && text !== undefined) this.ctx.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /**
   * Reports a failure. `document` is what the command knows of the run (a check report, say); the
   * error and exit code are added. The one-line error on stderr is main.ts's job, as always.
   */
  async failure(error: unknown, document: Record<string, unknown> = {}): Promise<void> {
    await this.emit({ ...this.base, ...document, ok: false, error: reportedError(error), exitCode: exitCodeFor(this.ctx, error) });
  }

  private async emit(document: Record<string, unknown>): Promise<void> {
    if (this.sent) return;
    this.sent = true;
    const text = toJsonText(document);
    if (this.flags.json) (this.mediaOnStdout ? this.ctx.stderr : this.ctx.stdout).write(text);
    if (this.flags.report !== undefined) await writeReportFile(this.flags.report, text);
  }
}

/**
 * Writes the report through the file sink (unnamed until complete, 0600) under a hidden sibling
 * name, then renames it over FILE: a reader sees the old report or the whole new one, and a crash
 * leaves no partial. Unlike media, a report may replace the one of an earlier run (batch resumes).
 */
async function writeReportFile(path: string, text: string): Promise<void> {
  const { openFileSink } = await import('../storage/file-sink.js');
  const staging = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.report`);
  const sink = await openFileSink(staging);
  try {
    await sink.write(Buffer.from(text, 'utf8'));
    await sink.commit();
    await rename(staging, path);
  } catch (error) {
    await sink.abort();
    if (error instanceof ArchiveCryptError) throw error;
    throw new OutputError(`cannot write --report ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
}

/**
 * The one call for a command outside the pipeline (keys, list, batch) that succeeded: the JSON
 * document where `--json`/`--report` ask for it, and the human form (`print`) unless `--json`.
 */
export async function reportResult(ctx: CliContext, document: Record<string, unknown>, print: () => void): Promise<void> {
  if (ctx.report) await ctx.report.success(document, undefined);
  if (ctx.report?.json !== true) print();
}

/**
 * For a failure that has a document of its own (a batch with failed archives, `keys inspect
 * --strict`): call before throwing `error`; main.ts then writes no second document.
 */
export async function reportFailureOf(ctx: CliContext, error: unknown, document: Record<string, unknown>): Promise<void> {
  await ctx.report?.failure(error, document);
}

/**
 * The report flags of a command line that commander could not parse (unknown option, missing
 * argument): the action never ran, but `--json` still promises one document.
 */
export function reportFlagsFromArgs(args: readonly string[]): { flags: ReportFlags; mediaOnStdout: boolean } {
  const flags: ReportFlags = {};
  let mediaOnStdout = false;
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index];
    if (arg === '--') break;
    if (arg === '--json') flags.json = true;
    else if (arg === '--report' && args[index + 1] !== undefined) flags.report = args[(index += 1)];
    else if (arg?.startsWith('--report=')) flags.report = arg.slice('--report='.length);
    else if ((arg === '--output' || arg === '-o') && args[index + 1] === '-') mediaOnStdout = true;
    else if (arg === '--output=-') mediaOnStdout = true;
  }
  return { flags, mediaOnStdout };
}
