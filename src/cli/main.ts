/**
 * The commander program. This is the only module that sees argv, the exit code and the terminal
 * as a whole; commands live one per file under ./commands and load their heavy dependencies lazily.
 */
import { Command, CommanderError, Help } from 'commander';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { ArchiveCryptError, ExitCode, UsageError } from '../errors.js';
import { commandNameOf, registerCommands } from './commands/index.js';
import { configVariable, locateConfig } from '../config/locate.js';
import { CliContext, flushed } from './context.js';
import { ReportChannel, reportFlagsFromArgs, type ReportFlags } from './output.js';

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** The program with the command of `args` (the words after the program name) registered, or all of them. */
export async function buildProgram(ctx: CliContext, args: readonly string[]): Promise<Command> {
  const program = new Command('archive-crypt')
    .description('Keys, decryption and verification for Vonage Video API (OpenTok) encrypted archives')
    .version(version, '-V, --version')
    .option('--debug', 'print stack traces of errors')
    .option('--config <file>', `configuration file (JSON, docs/CONFIG.md) (default: $${configVariable})`)
    .exitOverride()
    // Commander does not say which options are required; the help of every command does (set here,
    // before the commands are added, so that each inherits it).
    .configureHelp({
      optionDescription(option) {
        const text = Help.prototype.optionDescription.call(this, option);
        return option.mandatory ? `${text} (required)` : text;
      },
    })
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      // Help is laid out for the context's streams, not the process's, so a command run in process
      // (tests, scripts/cli-reference.js) prints what it would print there; 80 is commander's own
      // width off a terminal.
      getOutHelpWidth: () => (ctx.stdout.isTTY ? ctx.stdout.columns : 80),
      getErrHelpWidth: () => (ctx.stderr.isTTY ? ctx.stderr.columns : 80),
      // Usage errors follow the one-line rule too: `archive-crypt: unknown option '--x' (…)`.
      outputError: (s, write) => write(`archive-crypt: ${s.replace(/^error: /, '').trim()} (run with --help for usage)\n`),
    });
  program.hook('preAction', async (cmd, actionCommand) => {
    const globals = cmd.optsWithGlobals<{ debug?: boolean; config?: string }>();
    // Commander gives a global option to the program even after the command name: a command that
    // declares its own --config (serve, worker) still gets the value.
    if (globals.config !== undefined && actionCommand.options.some((option) => option.long === '--config')) {
      actionCommand.setOptionValue('config', globals.config);
    }
    ctx.debug = Boolean(globals.debug);
    // From here on a reporting command ends in one JSON document, whatever fails (output.ts).
    const flags = actionCommand.opts<ReportFlags & { output?: unknown }>();
    if (actionCommand.options.some((option) => option.long === '--json' || option.long === '--report')) {
      ctx.report = new ReportChannel(ctx, { ...(flags.json === true ? { json: true } : {}), ...(typeof flags.report === 'string' ? { report: flags.report } : {}) }, flags.output === '-');
    }
    // An empty name (an unset shell variable: --output "$OUT") is a usage error for every command.
    for (const flag of ['output', 'passwordOut', 'out'] as const) {
      if (actionCommand.opts<Record<string, unknown>>()[flag] === '') {
        throw new UsageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is empty: give a file name${flag === 'output' ? ' or - for stdout' : ''}`);
      }
    }
    await ctx.beforeAction?.();
    // zod loads only when there is a file to read: `--version` and `--help` never get here.
    if (locateConfig(globals.config, ctx.env) !== undefined) {
      const { loadConfig } = await import('../config/load.js');
      const loaded = await loadConfig(globals.config, ctx.env);
      ctx.config = loaded.config;
      ctx.configFile = loaded.file;
    }
  });
  await registerCommands(program, ctx, commandNameOf(args));
  return program;
}

/** Signals that stop a run (docs/RELIABILITY.md, "Signals"): Ctrl-C, kill, a closed SSH session, Ctrl-\\. */
const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
/** How long the work may take to wind down after a stop signal before the process exits anyway. */
const stopGraceMs = 2000;

/** Runs the CLI and resolves to the process exit code. Never throws. */
export async function run(argv: string[]): Promise<number> {
  const ctx = new CliContext();
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal means "now": the exit hook still removes named partials.
    if (ctx.interruptedBy !== undefined) process.exit(reportInterrupted(ctx));
    ctx.interruptedBy = signal;
    ctx.abort();
    // serve and worker stop on their own, after their configured grace period (docs/SERVICE.md).
    if (ctx.stopEndsNormally) return;
    // Work that does not watch the signal (a key being generated) must not keep the process.
    setTimeout(() => process.exit(reportInterrupted(ctx)), stopGraceMs).unref();
  };
  // EPIPE and friends arrive as 'error' events on the stream, not on the write that caused them.
  const onStdoutError = () => {
    ctx.stdoutClosed = true;
    ctx.abort();
  };
  ctx.stdout.on('error', onStdoutError);
  ctx.stderr.on('error', () => undefined);
  for (const signal of stopSignals) process.on(signal, onSignal);
  // Only a command that runs can write files: --version and --help do not load the file sink.
  let stopWatchingSinks = () => {};
  ctx.beforeAction = async () => {
    const { onFileSinkEvent } = await import('../storage/file-sink.js');
    stopWatchingSinks = onFileSinkEvent({
      committed: (path) => ctx.committedOutputs.push(path),
      staleRemoved: (path) => ctx.stderr.write(`archive-crypt: removed ${path}, left by an earlier run that did not finish\n`),
    });
  };
  let failure: unknown;
  let failed = false;
  try {
    await (await buildProgram(ctx, argv.slice(2))).parseAsync(argv);
  } catch (error) {
    failure = error;
    failed = true;
    await reportFailure(ctx, error, argv.slice(2));
  } finally {
    stopWatchingSinks();
  }
  await flushed(ctx.stdout);
  for (const signal of stopSignals) process.off(signal, onSignal);
  if (ctx.interruptedBy !== undefined && !(ctx.stopEndsNormally && !failed)) return reportInterrupted(ctx);
  if (ctx.stdoutClosed) return reportStdoutClosed(ctx);
  return failed ? reportError(ctx, failure) : ExitCode.ok;
}

/**
 * Runs one command line (the arguments after the program name) in `ctx` and resolves to its exit
 * code. Never throws and never touches the process (no signals, no exit): tests call it with their
 * own streams.
 */
export async function execute(ctx: CliContext, args: readonly string[]): Promise<number> {
  try {
    await (await buildProgram(ctx, args)).parseAsync([...args], { from: 'user' });
    return ExitCode.ok;
  } catch (error) {
    await reportFailure(ctx, error, args);
    return reportError(ctx, error);
  }
}

/**
 * The failure document of a reporting command that did not write its own (output.ts): a bad flag
 * commander refused before any action ran, the config file, a failure outside the pipeline.
 */
async function reportFailure(ctx: CliContext, error: unknown, args: readonly string[]): Promise<void> {
  if (error instanceof CommanderError && (helpOrVersion.has(error.code) || (error.code === 'commander.help' && error.exitCode === 0))) return;
  let channel = ctx.report;
  if (channel === undefined) {
    const { flags, mediaOnStdout } = reportFlagsFromArgs(args);
    if (flags.json !== true && flags.report === undefined) return;
    channel = new ReportChannel(ctx, flags, mediaOnStdout);
  }
  if (channel.done) return;
  try {
    await channel.failure(error);
  } catch (reportFailed) {
    // The run's own failure is what the exit code and the error line are about.
    ctx.stderr.write(`archive-crypt: warning: ${reportFailed instanceof Error ? reportFailed.message : String(reportFailed)}\n`);
  }
}

/** Commander "errors" that are a normal end: help or the version was asked for. */
const helpOrVersion = new Set(['commander.helpDisplayed', 'commander.version']);

let interruptReported = false;

/** One line for a stopped run; exit 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM). */
function reportInterrupted(ctx: CliContext): number {
  const signal = ctx.interruptedBy ?? 'SIGINT';
  if (!interruptReported) {
    interruptReported = true;
    ctx.stderr.write(`archive-crypt: stopped by ${signal}; unfinished output was removed\n`);
  }
  return 128 + constants.signals[signal];
}

/** The one place a closed stdout is reported, whatever command was writing to it. */
function reportStdoutClosed(ctx: CliContext): number {
  const kept = ctx.committedOutputs;
  const shown = kept.length > 3 ? `${kept.slice(0, 3).join(', ')} and ${kept.length - 3} more` : kept.join(', ');
  ctx.stderr.write(
    kept.length === 0
      ? 'archive-crypt: stdout was closed by the program reading it; the output is incomplete\n'
      : `archive-crypt: stdout was closed by the program reading it, so the report was not printed; ${kept.length === 1 ? 'the output file' : 'the output files'} ${shown} ${kept.length === 1 ? 'was' : 'were'} kept\n`,
  );
  return ExitCode.output;
}


/** Prints an error as one line (a stack only with --debug) and returns its exit code. */
export function reportError(ctx: CliContext, error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version are "errors" to commander; commander already printed its own message.
    if (helpOrVersion.has(error.code)) return ExitCode.ok;
    // Help printed because a subcommand was missing (`archive-crypt keys`) is a usage error.
    if (error.code === 'commander.help') return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    return ExitCode.usage;
  }
  if (error instanceof ArchiveCryptError) {
    ctx.stderr.write(`archive-crypt: ${error.message}\n`);
    if (ctx.debug && error.stack) ctx.stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  ctx.stderr.write(`archive-crypt: unexpected error: ${firstLine(message)} (run with --debug for details)\n`);
  if (ctx.debug && error instanceof Error && error.stack) ctx.stderr.write(`${error.stack}\n`);
  return ExitCode.unexpected;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}
