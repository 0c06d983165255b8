/**
 * The one output contract (docs/RELIABILITY.md, "Output"): a sink takes the bytes in order,
 * makes them visible only in `commit()` — called after the last check passed — and discards them in
 * `abort()` otherwise. Files (file-sink.ts), stdout and the object-store sinks (sink.ts opens them by name) implement it.
 */
import type { Writable } from 'node:stream';
import { OutputError } from '../errors.js';

export interface OutputSink {
  /** Human-readable destination for messages. */
  readonly name: string;
  /** Appends a chunk; resolves when the sink can take more (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Like write(), but resolves only once the sink holds no reference to `chunk`, so the caller may
   * overwrite that memory at once (the parallel engine writes out of a reused shared ring). Sinks
   * without it get a copy.
   */
  writeAndRelease?(chunk: Uint8Array): Promise<void>;
  /** Makes the output visible: after this the data is at the requested path. */
  commit(): Promise<void>;
  /** Discards everything written. Safe to call more than once and after commit (then a no-op). */
  abort(): Promise<void>;
}

/** Writes a chunk whose memory is reused right after: waits until the sink let go of it, or copies. */
export function writeReleasing(sink: OutputSink, chunk: Uint8Array): Promise<void> {
  return sink.writeAndRelease ? sink.writeAndRelease(chunk) : sink.write(Buffer.from(chunk));
}

/** Wraps a stream (stdout) as a sink. commit() ends nothing: stdout belongs to the process. */
export function streamSink(stream: Writable, name = 'stdout'): OutputSink {
  // A reader that goes away (a player closed, `| head`) is the operator's doing, not a crash.
  const refused = (error: Error) =>
    new OutputError(
      (error as NodeJS.ErrnoException).code === 'EPIPE'
        ? `${name} was closed by the program reading it; the output is incomplete`
        : `cannot write to ${name}: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
      { cause: error },
    );
  // Every failure reaches a write callback; without a listener the 'error' event would crash the
  // process when no backpressure wait happens to be listening (writeAndRelease waits on callbacks).
  stream.on('error', () => undefined);
  const written = (chunk: Uint8Array) =>
    new Promise<void>((resolve, reject) => stream.write(chunk, (error) => (error ? reject(refused(error)) : resolve())));
  return {
    name,
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        const ok = stream.write(chunk, (error) => {
          if (error) reject(refused(error));
        });
        if (ok) resolve();
        else {
          const onDrain = () => {
            stream.off('error', onError);
            resolve();
          };
          const onError = (error: Error) => {
            stream.off('drain', onDrain);
            reject(refused(error));
          };
          stream.once('drain', onDrain);
          stream.once('error', onError);
        }
      });
    },
    // The write callback runs once the stream is done with the chunk (written out, not just queued).
    writeAndRelease: written,
    // Let everything buffered reach the consumer before reporting success.
    commit: () => written(new Uint8Array(0)),
    async abort() {
      // A consumer of a stream cannot "unsee" bytes; callers only stream verified data where it matters.
    },
  };
}

/** A sink that discards everything: verify-only runs. */
export function nullSink(): OutputSink {
  return {
    name: 'nowhere (verify only)',
    async write() {},
    async writeAndRelease() {},
    async commit() {},
    async abort() {},
  };
}
