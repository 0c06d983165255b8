/**
 * The one skeleton of the commands that move an archive (decrypt, encrypt, seal, unseal, reseal), so
 * that each command only says what is its own. The order is fixed here, not per command:
 *
 * 1. `check`: parse and check every flag and the config (storage flags included) — nothing prompted,
 *    nothing created, so a bad flag costs nothing and always exits 2 first;
 * 2. `keys`: open the keys (this may prompt on the terminal);
 * 3. `outputs`: claim the outputs (an existing file or the plaintext policy refuses here, before any
 *    byte is read); every claimed sink is aborted if anything later fails;
 * 4. `run`: the work, with a progress display;
 * 5. `report`: one summary or JSON document through `ctx.report` (output.ts);
 * 6. `finish`: what may be committed only once the report went out (encrypt --json: the document
 *    is the only copy of the password).
 */
import { lstat } from 'node:fs/promises';
import { OutputError } from '../errors.js';
import type { OutputSink } from '../storage/output-sink.js';
import { parseSourceSpec } from '../storage/uri.js';
import type { CliContext } from './context.js';
import { startProgress, type ProgressDisplay } from './progress.js';

/** What `run` gets: the checked plan, the open keys, the claimed outputs and a progress display. */
export interface PipelineJob<Plan, Keys, Outputs> {
  plan: Plan;
  keys: Keys;
  outputs: Outputs;
  progress: ProgressDisplay;
}

/** A command's report: its JSON document and its human summary (undefined: none). */
export interface CommandReport {
  json: Record<string, unknown>;
  text?: string;
}

export interface CommandPipeline<Plan, Keys, Outputs, Result> {
  /** Step 1: every flag and the config; throws UsageError. May read small inputs, never prompts. */
  check(): Plan | Promise<Plan>;
  /** What a failure document says about the run once the flags are known (source, output). */
  describe?(plan: Plan): Record<string, unknown>;
  /** Step 2: the keys; `close` (if any) runs at the end whatever happened. */
  keys?(plan: Plan): Promise<Keys>;
  /** Step 3: claims outputs; pass each sink through `claim` so that a failure aborts it. */
  outputs?(plan: Plan, keys: Keys, claim: <S extends OutputSink>(sink: S) => S): Promise<Outputs>;
  /** Step 4: the work. */
  run(job: PipelineJob<Plan, Keys, Outputs>): Promise<Result>;
  /** Step 5: the document and summary of a success. */
  report(result: Result, plan: Plan): CommandReport;
  /** Step 6: runs after the report; a failure still aborts every claimed sink that was not committed. */
  finish?(result: Result): Promise<void>;
  /** The document of a failure the command knows more about (a check report); undefined: the default. */
  failure?(error: unknown, plan: Plan): Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>;
  /** The progress bar's label; none without it. */
  progressLabel?: string;
  /** No progress bar and no summary (`--quiet`). */
  quiet?: boolean;
  /** The input is stdin: a read that waits on an open pipe must end when the run is stopped. */
  readsStdin?: boolean;
}

/** Anything a keys step may return that holds resources (a keyring with a token session). */
interface Closable {
  close(): Promise<void>;
}

/** Runs a command through the five steps; failures are reported (output.ts) and rethrown for main.ts. */
export async function runPipeline<Plan, Keys, Outputs, Result>(
  ctx: CliContext,
  pipeline: CommandPipeline<Plan, Keys, Outputs, Result>,
): Promise<void> {
  const plan = await pipeline.check();
  if (ctx.report && pipeline.describe) ctx.report.base = pipeline.describe(plan);
  const claimed: OutputSink[] = [];
  let opened: Keys | undefined;
  let progress: ProgressDisplay | undefined;
  try {
    const keys = pipeline.keys ? await pipeline.keys(plan) : (undefined as Keys);
    opened = keys;
    const outputs = pipeline.outputs
      ? await pipeline.outputs(plan, keys, (sink) => {
          claimed.push(sink);
          return sink;
        })
      : (undefined as Outputs);
    const silent = pipeline.quiet === true || ctx.report?.json === true || pipeline.progressLabel === undefined;
    progress = await startProgress(ctx, pipeline.progressLabel ?? '', silent);
    const result = await pipeline.run({ plan, keys, outputs, progress });
    progress.stop();
    const { json, text } = pipeline.report(result, plan);
    if (ctx.report) await ctx.report.success(json, text, pipeline.quiet);
    else if (!pipeline.quiet && text !== undefined) ctx.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    await pipeline.finish?.(result);
  } catch (error) {
    progress?.stop();
    for (const sink of claimed) await sink.abort();
    // A read of an open pipe that never delivers again would keep the process alive after Ctrl-C.
    if (ctx.signal.aborted && pipeline.readsStdin) ctx.stdin.destroy();
    if (ctx.report && !ctx.report.done) await ctx.report.failure(error, (await pipeline.failure?.(error, plan)) ?? {});
    throw error;
  } finally {
    if (isClosable(opened)) await opened.close();
  }
}

function isClosable(value: unknown): value is Closable {
  return typeof value === 'object' && value !== null && typeof (value as Partial<Closable>).close === 'function';
}

/**
 * For `check`: refuses a local output file that exists already, so that nobody types a passphrase
 * for a run that cannot write. Claiming it (step 3) checks again and never overwrites, even in a race.
 */
export async function refuseExistingOutput(spec: string | undefined): Promise<void> {
  if (spec === undefined || spec === '-') return;
  const location = parseSourceSpec(spec);
  if (location.kind !== 'file') return;
  try {
    await lstat(location.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new OutputError(`cannot check output path ${location.path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  throw new OutputError(`${location.path} already exists; refusing to overwrite (remove it or choose another --output)`);
}

/** For `check`: the plaintext-file policy (ARCHIVE_CRYPT_PLAINTEXT_FILES, the config file) against `--output`. */
export function checkPlaintextPolicy(ctx: CliContext, output: string | undefined): void {
  if (output === undefined || output === '-' || ctx.plaintextFilesAllowed) return;
  // Object-store outputs count as plaintext files too: the media would be at rest unencrypted.
  throw new OutputError('plaintext files are not allowed here (ARCHIVE_CRYPT_PLAINTEXT_FILES=deny): stream with --output - or verify without --output', {
    code: 'ERR_POLICY',
  });
}
