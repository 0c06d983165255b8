/**
 * A real Redis for the tests: Debian's `redis-server` (installed by .ci/run) on a free loopback port,
 * persistence off, in a private working folder. The global setup starts one for the suite; a test that
 * needs to stop and restart Redis (reconnection) starts its own with `startRedis()`, so the shared one
 * never goes away under other tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

export interface RedisProcess {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: persistence is off). */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

/**
 * Starts a redis-server. `persistent` turns the append-only file on (in the private folder), so a
 * stop and start keeps the data, as a production Redis configured per docs/SERVICE.md does.
 */
export async function startRedis(options: { persistent?: boolean } = {}): Promise<RedisProcess> {
  const port = await freePort();
  const folder = await mkdtemp(join(tmpdir(), 'archive-crypt-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', options.persistent ? 'yes' : 'no', '--dir', folder, '--maxmemory-policy', 'noeviction'],
      { cwd: folder, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = started;
    let stderr = '';
    started.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<never>((_, reject) =>
      started.once('exit', (code) =>
        reject(new Error(`redis-server exited with ${code}${stderr ? `: ${stderr}` : ''} (install it: apt-get install -y redis-server)`)),
      ),
    );
    started.once('error', () => undefined);
    await Promise.race([waitForPort(port, 10_000, 'redis-server'), exited]);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    async close() {
      await stop();
      await rm(folder, { recursive: true, force: true });
    },
  };
}


