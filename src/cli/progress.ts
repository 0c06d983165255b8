/**
 * A progress bar on stderr (bytes, rate, ETA) while a long operation runs. Only when stderr is a
 * terminal and the user did not ask for `--quiet`: in pipes and logs it stays silent, so stderr
 * carries nothing but the summary and errors.
 */
import type { CliContext } from './context.js';
import { formatSize } from './storage-options.js';

/** What a command hands to the engine's `onProgress` and stops at the end. */
export interface ProgressDisplay {
  update(bytes: number, total: number | undefined): void;
  /** Removes the bar (success or failure), leaving the terminal clean for the next line. */
  stop(): void;
}

const silent: ProgressDisplay = { update() {}, stop() {} };

/**
 * Starts a progress display for an operation over `label`; returns a silent one when stderr is not
 * a TTY or `quiet` is set. cli-progress loads only when a bar is really drawn.
 */
export async function startProgress(ctx: CliContext, label: string, quiet: boolean | undefined): Promise<ProgressDisplay> {
  if (quiet || !ctx.stderr.isTTY) return silent;
  const { SingleBar } = await import('cli-progress');
  const started = Date.now();
  let bar: InstanceType<typeof SingleBar> | undefined;
  return {
    update(bytes, total) {
      const elapsed = Math.max((Date.now() - started) / 1000, 0.001);
      const payload = { label, done: formatSize(bytes), size: total === undefined ? '?' : formatSize(total), rate: `${formatSize(bytes / elapsed)}/s` };
      if (!bar) {
        bar = new SingleBar({
          stream: ctx.stderr,
          // A pipe (stdin) has no known size: show bytes and rate only.
          format: total === undefined ? '{label} {done} | {rate}' : '{label} {bar} {percentage}% | {done} / {size} | {rate} | ETA {eta_formatted}',
          clearOnComplete: true,
          hideCursor: true,
          etaBuffer: 50,
          fps: 10,
        });
        bar.start(total ?? 0, 0, payload);
      }
      bar.update(bytes, payload);
    },
    stop() {
      bar?.stop();
    },
  };
}
