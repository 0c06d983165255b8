/* global fetch */
// `npm run demo:service`: the archive service end to end on embedded defaults, on this machine only
// (docs/SERVICE.md): an S3 emulator (s3rver) and a local redis-server on loopback ports, `serve` and one
// `worker`, a signed Vonage callback, and the resealed output unsealed by the recipient.
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cli, sample, startDemo, step, uploadedArchive } from './demo-setup.js';
import { shellQuote } from './shell-quote.js';

const apiKey = '47000000';
const archiveId = randomUUID();
const demo = await startDemo('demo-service');
const { work, endpoint, env, archiveCrypt } = demo;
const redisPort = await freePort();
// The service's processes read s3rver through the SDK's own variable; the callback secret is this run's.
Object.assign(env, { AWS_ENDPOINT_URL_S3: endpoint, VONAGE_SIGNATURE_SECRET: randomBytes(24).toString('base64') });
const children = [];

/** Starts a long-running command; resolves with the first JSON log line that passes `test`. */
function background(args, test, echo = () => true) {
  process.stdout.write(`$ ${shellQuote(['archive-crypt', ...args])} &\n`);
  const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout });
  const waiters = [];
  lines.on('line', (text) => {
    let line;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    if (echo(line)) process.stdout.write(`  [${args[0]}] ${text}\n`);
    for (const waiter of waiters.splice(0)) if (!waiter.test(line) || !waiter.resolve(line)) waiters.push(waiter);
  });
  const wait = (predicate) =>
    new Promise((resolve, reject) => {
      waiters.push({ test: predicate, resolve: (line) => (resolve(line), true) });
      child.once('exit', (code) => reject(new Error(`archive-crypt ${args[0]} exited with ${code}`)));
    });
  return { child, ready: wait(test), wait };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** HS256 token as Vonage signs secure callbacks (with the SHA-256 of the body). */
function signCallback(body) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ iat: now, exp: now + 300, payload_hash: createHash('sha256').update(body).digest('hex') })}`;
  return `${unsigned}.${createHmac('sha256', env.VONAGE_SIGNATURE_SECRET).update(unsigned).digest('base64url')}`;
}

try {
  step('0. a local Redis on a free loopback port (persistence off: a demo)');
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], {
    stdio: 'ignore',
  });
  children.push(redis);
  await new Promise((resolve, reject) => {
    redis.once('error', () => reject(new Error('redis-server is not installed (apt-get install -y redis-server)')));
    setTimeout(resolve, 300);
  });

  step('1. keys: the archive key pair (registered with Vonage) and an auditor who receives resealed archives');
  await archiveCrypt(['keys', 'generate', '--out', join(work, 'keys'), '--subject', 'CN=Demo archive key', '--passphrase-env', 'DEMO_PASSPHRASE']);
  await archiveCrypt(['keys', 'generate', '--out', join(work, 'auditor'), '--subject', 'CN=Auditor', '--passphrase-env', 'DEMO_PASSPHRASE']);

  step('2. Vonage (simulated): encrypt an archive and upload it to the bucket');
  const encrypted = join(work, 'archive.mp4');
  const passwordFile = join(work, 'password.txt');
  await archiveCrypt(['encrypt', sample, '--cert', join(work, 'keys', 'archive-certificate.pem'), '--output', encrypted, '--password-out', passwordFile]);
  const body = await readFile(encrypted);
  for (const bucket of ['vonage-archives', 'sealed-archives']) await demo.createBucket(bucket);
  await demo.putObject('vonage-archives', `${apiKey}/${archiveId}/archive.mp4`, body);
  await rm(encrypted);

  step('3. the service: serve and a worker, configured by service.json');
  const config = join(work, 'service.json');
  await writeFile(
    config,
    `${JSON.stringify(
      {
        service: {
          redisUrl: `redis://127.0.0.1:${redisPort}`,
          source: 's3://vonage-archives',
          destination: 's3://sealed-archives/meetings',
          recipients: [join(work, 'auditor', 'archive-certificate.pem')],
          keys: [join(work, 'keys', 'archive-private-key.pem')],
          passphraseEnv: 'DEMO_PASSPHRASE',
          listen: '127.0.0.1:0',
        },
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`${await readFile(config, 'utf8')}`);
  const serve = background(['serve', '--config', config], (line) => line.event === 'listening');
  const worker = background(['worker', '--config', config], (line) => line.event === 'ready', (line) => line.event === 'job' || line.event === 'ready');
  const { url } = await serve.ready;
  await worker.ready;

  step('4. Vonage calls back: the archive is uploaded (signed with the signature secret)');
  const callback = JSON.stringify(await uploadedArchive(archiveId, apiKey, body, passwordFile));
  const answer = await fetch(url, { method: 'POST', body: callback, headers: { 'content-type': 'application/json', authorization: `Bearer ${signCallback(callback)}` } });
  process.stdout.write(`POST ${url} → ${answer.status} ${await answer.text()}`);
  const unsigned = await fetch(url, { method: 'POST', body: callback, headers: { 'content-type': 'application/json' } });
  process.stdout.write(`the same callback unsigned → ${unsigned.status}\n`);
  await worker.wait((line) => line.event === 'job' && (line.outcome === 'completed' || line.outcome === 'failed'));

  step('5. the auditor unseals the resealed archive straight from the destination bucket');
  const output = join(work, 'meeting.ts');
  await archiveCrypt([
    'unseal', `s3://sealed-archives/meetings/${apiKey}/${archiveId}/archive.sealed`, '--key', join(work, 'auditor', 'archive-private-key.pem'),
    '--passphrase-env', 'DEMO_PASSPHRASE', '--output', output,
  ]);
  const same = Buffer.compare(await readFile(output), await readFile(sample)) === 0;
  process.stdout.write(`unsealed media identical to the original: ${same ? 'yes' : 'NO'}\n`);
  if (!same) throw new Error('the unsealed archive differs from the sample');
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)));
  await demo.close();
}
