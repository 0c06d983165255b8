/**
 * The commander program. This is the only module that sees argv, the exit code and the terminal
 * as a whole; commands live one per file under ./commands and load their heavy dependencies lazily.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { ArchiveCryptError, ExitCode } from '../errors.js';
import { registerCommands } from './commands/index.js';
import { CliContext } from './context.js';

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('archive-crypt')
    .description('Keys, decryption and verification for Vonage Video API (OpenTok) encrypted archives')
    .version(version, '-V, --version')
    .option('--debug', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      // Usage errors follow the one-line rule too: `archive-crypt: unknown option '--x' (…)`.
      outputError: (s, write) => write(`archive-crypt: ${s.replace(/^error: /, '').trim()} (run with --help for usage)\n`),
    });
  program.hook('preAction', (cmd) => {
    ctx.debug = Boolean(cmd.optsWithGlobals<{ debug?: boolean }>().debug);
  });
  registerCommands(program, ctx);
  return program;
}

/** Runs the CLI and resolves to the process exit code. Never throws. */
export async function run(argv: string[]): Promise<number> {
  const ctx = new CliContext();
  const onSigint = () => ctx.abort();
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    await buildProgram(ctx).parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    return reportError(ctx, error);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/** Prints an error as one line (a stack only with --debug) and returns its exit code. */
export function reportError(ctx: CliContext, error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version are "errors" to commander; commander already printed its own message.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
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
