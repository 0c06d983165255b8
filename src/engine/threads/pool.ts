/**
 * The decrypt thread pool: a thin owner of a piscina pool that starts lazily, reports how many
 * threads have actually booted, and bounds how many tasks may wait. One pool can serve many archives
 * at once (`batch` passes the same pool to every `decryptArchive`).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { UsageError } from '../../errors.js';
import type { DecryptRangeResult, DecryptRangeTask, SealRunResult, SealRunTask, UnsealBatchResult, UnsealBatchTask } from './messages.js';
import type * as workerHandlers from './worker.js';

/** The worker's named handlers (piscina's `name`): each export of worker.ts, with its task and answer. */
type Handlers = typeof workerHandlers;
type HandlerName = keyof Handlers;

export interface DecryptPoolOptions {
  /** Worker threads (default: cores − 1, at least 1; the main thread decrypts too). */
  threads?: number;
  /** Tasks each booted thread may hold at once, running plus queued (default 3). */
  tasksPerThread?: number;
  /**
   * Post a thread's queued tasks to it at once (piscina `concurrentTasksPerWorker` = tasksPerThread)
   * instead of one at a time as the previous one finishes. Tasks still run one after the other, but a
   * thread no longer waits for the main thread's event loop between tasks — which matters when the
   * main thread itself works synchronously for milliseconds at a time (unseal). Default false.
   */
  queueInThread?: boolean;
}

/**
 * A pool of decrypt threads. Threads start on the first `start()` (never for small archives) and boot
 * in the background while the caller keeps decrypting on its own thread; `capacity` says how many
 * tasks the pool can take right now without queueing behind a booting thread.
 *
 * @example
 * ```ts
 * const pool = createDecryptPool({ threads: 3 });
 * try {
 *   for (const job of jobs) await decryptArchive({ ...job, pool });
 * } finally {
 *   await pool.close();
 * }
 * ```
 */
export class DecryptPool {
  readonly threads: number;
  readonly tasksPerThread: number;
  private readonly queueInThread: boolean;
  private piscina: Piscina | undefined;
  private starting: Promise<void> | undefined;
  private bootedThreads = 0;
  private running = 0;
  private completed = 0;
  private sessions = 0;
  /** Tasks given before piscina was loaded, released in order once it is. */
  private readonly waitingForStart: Array<() => void> = [];
  private readonly bootWaiters: Array<() => void> = [];
  private closed = false;

  constructor(options: DecryptPoolOptions = {}) {
    const threads = options.threads ?? Math.max(1, availableParallelism() - 1);
    const tasksPerThread = options.tasksPerThread ?? 3;
    if (!Number.isInteger(threads) || threads < 1) throw new UsageError('options.threads must be a positive integer');
    if (!Number.isInteger(tasksPerThread) || tasksPerThread < 1) {
      throw new UsageError('options.tasksPerThread must be a positive integer');
    }
    this.threads = threads;
    this.tasksPerThread = tasksPerThread;
    this.queueInThread = options.queueInThread === true;
  }

  /** Starts the threads if they are not running yet; returns at once (threads boot in the background). */
  start(): void {
    if (this.starting || this.closed) return;
    // piscina itself loads only now: small archives never pay for it.
    this.starting = import('piscina').then(({ Piscina }) => {
      if (!this.closed) this.boot(new Piscina(this.piscinaOptions()));
    });
    this.starting.catch(() => undefined);
  }

  private piscinaOptions(): ConstructorParameters<typeof Piscina>[0] {
    return {
      filename: workerFilename(),
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      ...(this.queueInThread ? { concurrentTasksPerWorker: this.tasksPerThread } : {}),
      // No piscina queue limit: each archive bounds its own tasks by the slots of its ring.
    };
  }

  private boot(piscina: Piscina): void {
    this.piscina = piscina;
    for (const release of this.waitingForStart.splice(0)) release();
    // Each ping is answered by the first thread free to take it, so `booted` counts threads that run.
    for (let i = 0; i < this.threads; i += 1) {
      piscina.run(undefined, { name: 'ping' satisfies HandlerName }).then(
        () => {
          this.bootedThreads = Math.min(this.threads, this.bootedThreads + 1);
          if (this.bootedThreads === this.threads) for (const wake of this.bootWaiters.splice(0)) wake();
        },
        // A thread that cannot start leaves the work to the main thread; nobody waits for it.
        () => {
          for (const wake of this.bootWaiters.splice(0)) wake();
        },
      );
    }
  }

  /** Starts the pool if needed and resolves once every thread has booted. */
  async ready(): Promise<void> {
    this.start();
    await this.starting;
    if (this.bootedThreads < this.threads) await new Promise<void>((resolve) => this.bootWaiters.push(resolve));
  }

  /** Ranges decrypted (or sealed runs opened) by the pool's threads so far (for tests and benchmarks). */
  get completedTasks(): number {
    return this.completed;
  }

  /** Threads that have booted and take tasks. */
  get booted(): number {
    return this.bootedThreads;
  }

  /** Tasks the pool can take now: booted threads × tasksPerThread − tasks already given. */
  get capacity(): number {
    return this.closed ? 0 : this.bootedThreads * this.tasksPerThread - this.running;
  }

  /** Decrypts one range of the shared ring in place; rejects if the pool is closed or the task fails. */
  decrypt(task: DecryptRangeTask): Promise<DecryptRangeResult> {
    return this.runCounted('decryptRange', task);
  }

  /**
   * Verifies and decrypts a run of sealed segments of the shared ring in place (docs/FORMAT.md);
   * a failed tag is an answer (`failure`), not a rejection.
   */
  unseal(task: UnsealBatchTask): Promise<UnsealBatchResult> {
    return this.runCounted('unsealRun', task);
  }

  /** Seals a run of plaintext of the shared ring in place; resolves with the sealed bytes written. */
  seal(task: SealRunTask): Promise<SealRunResult> {
    return this.runCounted('sealRun', task);
  }

  private async runCounted<N extends 'decryptRange' | 'unsealRun' | 'sealRun'>(name: N, task: Parameters<Handlers[N]>[0]): Promise<ReturnType<Handlers[N]>> {
    this.running += 1;
    try {
      const result = await this.run(name, task);
      this.completed += 1;
      return result;
    } finally {
      this.running -= 1;
    }
  }

  /** Runs `task` on the named handler of a pool thread (once piscina has loaded, if it is still loading). */
  private async run<N extends HandlerName>(name: N, task: Parameters<Handlers[N]>[0]): Promise<ReturnType<Handlers[N]>> {
    if (!this.piscina && this.starting && !this.closed) await new Promise<void>((resolve) => this.waitingForStart.push(resolve));
    if (!this.piscina || this.closed) throw new Error('decrypt pool is not running');
    return (await this.piscina.run(task, { name })) as ReturnType<Handlers[N]>;
  }

  /**
   * A new plaintext hash session, or -1 when the pool has more than one thread (then tasks may run
   * out of order and the caller hashes on its own thread).
   */
  openHashSession(): number {
    return this.threads === 1 ? this.sessions++ : -1;
  }

  /** Ends a hash session: the SHA-256 of everything hashed plus `tailBytes` of the held-back block. */
  async digest(hashSession: number, tailBytes: number): Promise<Buffer> {
    return Buffer.from(await this.run('digest', { hashSession, tailBytes }));
  }

  /** Lets running tasks finish, then stops the threads. */
  async close(): Promise<void> {
    this.closed = true;
    for (const release of this.waitingForStart.splice(0)) release();
    await this.starting?.catch(() => undefined);
    await this.piscina?.close();
  }

  /** Stops the threads now; running tasks reject. */
  async destroy(): Promise<void> {
    this.closed = true;
    for (const release of this.waitingForStart.splice(0)) release();
    await this.starting?.catch(() => undefined);
    await this.piscina?.destroy();
  }
}

/**
 * Creates a pool to share between archives (e.g. by `batch`); the caller closes it. `decryptArchive`
 * creates a private one when none is given and the archive is large enough.
 */
export function createDecryptPool(options: DecryptPoolOptions = {}): DecryptPool {
  return new DecryptPool(options);
}

/**
 * piscina needs JavaScript: next to this module once built (`dist/engine/threads/worker.js`); when this module
 * runs from the TypeScript sources (vitest), the built copy in `dist/`.
 */
function workerFilename(): string {
  const beside = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(beside)) return beside;
  const built = fileURLToPath(new URL('../../../dist/engine/threads/worker.js', import.meta.url));
  if (existsSync(built)) return built;
  throw new Error(`decrypt worker not found at ${beside} or ${built}: run npm run build`);
}
