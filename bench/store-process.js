// @ts-check
// One piece of bench/service.js's object store in a process of its own, so that the store's CPU is
// not the benchmark's event loop and can be measured apart (bench/ANALYSIS.md, "Service"): on one
// event loop, s3rver and the paced proxy together got one process's share of the loaded cores and
// capped every worker count at the same archives/s. Prints one JSON line with its URL, then serves
// until killed.
//
//   node bench/store-process.js s3rver <directory>
//   node bench/store-process.js proxy <target URL> <bytes per second> <first-byte latency ms>
import { rmSync } from 'node:fs';
import { startPacedProxy } from './paced-proxy.js';

const [role, ...args] = process.argv.slice(2);
if (role === 's3rver') {
  const { default: S3rver } = await import('s3rver');
  const directory = args[0] ?? '';
  rmSync(directory, { recursive: true, force: true });
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: true });
  const { port } = await server.run();
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else if (role === 'proxy') {
  const proxy = await startPacedProxy({ target: args[0] ?? '', bytesPerSecond: Number(args[1]), firstByteLatencyMs: Number(args[2]) });
  process.stdout.write(`${JSON.stringify({ url: proxy.url })}\n`);
  process.once('SIGTERM', () => void proxy.close().then(() => process.exit(0)));
} else {
  process.stderr.write('usage: store-process.js s3rver <directory> | proxy <target> <bytesPerSecond> <latencyMs>\n');
  process.exit(2);
}
