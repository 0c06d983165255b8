/**
 * The in-memory output sink of the engine tests: it keeps every byte written (copied, as a real sink
 * would have consumed them) and records whether the engine committed or aborted it.
 */
import type { OutputSink } from '../../src/storage/output-sink.js';

export type SinkState = 'open' | 'committed' | 'aborted';

export interface MemorySink extends OutputSink {
  /** Everything written so far. */
  bytes(): Buffer;
  /** 'committed' after commit(); 'aborted' after an abort() of a sink not committed. */
  readonly state: SinkState;
}

export function memorySink(): MemorySink {
  const parts: Buffer[] = [];
  let state: SinkState = 'open';
  return {
    name: 'memory',
    get state() {
      return state;
    },
    write: (chunk: Uint8Array) => {
      parts.push(Buffer.from(chunk));
      return Promise.resolve();
    },
    commit: () => {
      state = 'committed';
      return Promise.resolve();
    },
    abort: () => {
      if (state === 'open') state = 'aborted';
      return Promise.resolve();
    },
    bytes: () => Buffer.concat(parts),
  };
}
