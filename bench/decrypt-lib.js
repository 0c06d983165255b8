#!/usr/bin/env node
// Library-level decrypt for bench/run.js, to compare the engine's two pipelines in whole processes:
//   decrypt-lib.js <archive> <keyHex> <ivHex> serial|parallel   (plaintext to stdout)
// `parallel` forces the pool (parallelThreshold 0, private pool of cores − 1 threads).
// Engine modules only: importing the whole library (dist/index.js) would add its load time.
import { decryptArchive } from '../dist/engine/decrypt.js';
import { streamSink } from '../dist/engine/output.js';
import { FileSource } from '../dist/storage/file.js';

const [path, keyHex, ivHex, mode] = process.argv.slice(2);
await decryptArchive({
  source: new FileSource(path),
  archiveKey: { key: Buffer.from(keyHex, 'hex'), iv: Buffer.from(ivHex, 'hex') },
  sink: streamSink(process.stdout),
  parallelThreshold: mode === 'parallel' ? 0 : Number.POSITIVE_INFINITY,
});
