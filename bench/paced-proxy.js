// @ts-check
// A loopback TCP proxy that makes a local store (s3rver, azurite) behave like a remote one: every
// connection's downstream bandwidth is capped, and the first byte of each answer is held back by a
// fixed latency counted from the request. A TCP proxy (not an HTTP one) keeps the client's own
// connections — one per request in flight, as the AWS SDK's keep-alive agent uses them — so "per
// connection" means what it means on a real network, and signatures pass through untouched.
//
//   import { startPacedProxy } from './paced-proxy.js';
//   const proxy = await startPacedProxy({ target: 'http://127.0.0.1:4568', bytesPerSecond: 40e6, firstByteLatencyMs: 20 });
//   // point the client at proxy.url …
//   await proxy.close();
//
// Used by bench/run.js (the paced-store rows) and bench/service.js. Loopback only: it listens on
// 127.0.0.1 and refuses a target that is not a loopback address.
import { createServer, connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Largest slice released at once: 16 KiB is 0.4 ms at 40 MB/s, so the pacing is smooth. */
const sliceBytes = 16 * 1024;
/**
 * How far a connection may fall behind its schedule and catch up: timers overshoot by a millisecond
 * or more (more with several connections on one event loop), and without credit each overshoot
 * would lower the rate below the cap. Small, so a connection that was idle cannot burst.
 */
const maxCreditMs = 10;

/**
 * Starts the proxy. `bytesPerSecond` caps each connection's downstream (store → client) rate;
 * `firstByteLatencyMs` delays the first answer byte after each request (client → store bytes after
 * a quiet period), like a round trip plus the store's time to first byte. Upstream is not paced:
 * the bench reads, it does not upload through the proxy.
 *
 * @param {{ target: string, bytesPerSecond?: number, firstByteLatencyMs?: number }} options
 * @returns {Promise<PacedProxy>}
 */
export async function startPacedProxy({ target, bytesPerSecond = 40e6, firstByteLatencyMs = 20 }) {
  const upstream = new URL(target);
  if (!loopbackHosts.has(upstream.hostname)) throw new Error(`paced proxy: target ${target} is not a loopback address`);
  if (!(bytesPerSecond > 0)) throw new Error('paced proxy: options.bytesPerSecond must be a positive number');
  if (!(firstByteLatencyMs >= 0)) throw new Error('paced proxy: options.firstByteLatencyMs must be zero or more');
  const upstreamPort = Number(upstream.port || 80);
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  const stats = { connections: 0, requests: 0, bytesDown: 0 };

  const server = createServer((client) => {
    stats.connections += 1;
    const store = connect({ host: upstream.hostname === 'localhost' ? '127.0.0.1' : upstream.hostname.replace(/^\[|\]$/g, ''), port: upstreamPort });
    for (const socket of [client, store]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // Either side going away ends the pair; errors are the client's or the store's business.
      socket.on('error', () => {
        client.destroy();
        store.destroy();
      });
    }
    /** When the current request's first byte arrived, while its answer has not started yet. */
    let requestAt = /** @type {number | undefined} */ (undefined);
    client.on('data', () => {
      if (requestAt === undefined) {
        requestAt = performance.now();
        stats.requests += 1;
      }
    });
    let nextFreeAt = 0;
    const pacer = new Transform({
      highWaterMark: sliceBytes,
      transform(chunk, _encoding, done) {
        void (async () => {
          if (requestAt !== undefined) {
            const wait = requestAt + firstByteLatencyMs - performance.now();
            requestAt = undefined;
            if (wait > 0) await sleep(wait);
            nextFreeAt = performance.now();
          }
          for (let offset = 0; offset < chunk.length; offset += sliceBytes) {
            const slice = chunk.subarray(offset, offset + sliceBytes);
            const now = performance.now();
            if (nextFreeAt < now - maxCreditMs) nextFreeAt = now - maxCreditMs;
            else if (nextFreeAt - now >= 1) await sleep(nextFreeAt - now);
            nextFreeAt += (slice.length / bytesPerSecond) * 1000;
            stats.bytesDown += slice.length;
            this.push(slice);
          }
        })().then(() => done(), done);
      },
    });
    client.pipe(store);
    store.pipe(pacer).pipe(client);
    client.on('close', () => store.destroy());
    store.on('close', () => {
      pacer.end();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(undefined));
  });
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve(undefined));
      }),
  };
}

/**
 * @typedef {object} PacedProxy
 * @property {string} url `http://127.0.0.1:<port>`: use it as the store's endpoint
 * @property {number} port
 * @property {{ connections: number, requests: number, bytesDown: number }} stats counts since start
 * @property {() => Promise<void>} close stops listening and drops every connection
 */
