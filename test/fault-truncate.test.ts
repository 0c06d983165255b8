/**
 * Fault class: the archive file shrinks while a real `decrypt` process reads it. On the native core
 * a local archive is read through a mapping (native/archive_crypt.c, "File mappings"), where a page
 * past the new end raises SIGBUS: the addon's guard must turn that into the storage failure a short
 * read gives — exit 5, one line, nothing in the output folder — and never let the signal kill the
 * process. Each row sets ARCHIVE_CRYPT_NATIVE itself, whatever the suite runs with: the native rows
 * test the guard, the node:crypto rows that the fallback's reads (by position, or in order through
 * the file source, which knows the size it stat()ed) fail the same way rather than as bad padding.
 * Another process (this one) cuts the file once the decrypt has written part of its output, and
 * every row repeats until several cuts landed mid-run.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { oneErrorLine } from './support/one-line-error.js';
import { leftIn, startCli, waitForOutputOpen } from './support/processes.js';
import { passArgs, passEnv, privateKeyCopy, vonageArchive, vonageFixture as fx } from './support/vonage-fixture.js';

const MiB = 1024 * 1024;
/** Large enough that the run lasts well past the first written MiBs (several windows of 8 MiB). */
const MEDIA_BYTES = 96 * MiB;
const CUT_TO = 24 * MiB;
const HITS_WANTED = 3;
const ATTEMPTS = 12;

let dir: string;
let key: string;
let archive: { body: Buffer; password: string };
let sha256: string;

beforeAll(async () => {
  dir = await tempDir('archive-crypt-fault-truncate-');
  key = await privateKeyCopy(dir);
  const sample = await readFile(fx.sample);
  const media = Buffer.concat(Array.from({ length: Math.ceil(MEDIA_BYTES / sample.length) }, () => sample)).subarray(0, MEDIA_BYTES);
  archive = await vonageArchive(Buffer.from(media.subarray(0, media.length - (media.length % 188))));
  sha256 = createHash('sha256').update(archive.body).digest('base64');
});

describe('an archive that shrinks mid-decrypt', () => {
  it.each([
    ['to a file', [], '1'],
    ['to a file, verifying --expect-sha256', ['--expect-sha256', 'SHA'], '1'],
    // The fallback reads by position or in order: a shrunk file is a short read, the same failure.
    ['to a file on node:crypto', [], '0'],
    ['to a file on node:crypto, verifying --expect-sha256', ['--expect-sha256', 'SHA'], '0'],
  ])('%s: exit 5, one line, nothing left — never killed by SIGBUS', async (_name, extra: string[], nativeCore: string) => {
    let hits = 0;
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < ATTEMPTS && hits < HITS_WANTED; attempt += 1) {
      const work = join(dir, `run-${Math.random().toString(36).slice(2)}`);
      await mkdir(join(work, 'out'), { recursive: true });
      const path = join(work, 'archive.mp4');
      await writeFile(path, archive.body);
      const args = extra.map((arg) => (arg === 'SHA' ? sha256 : arg));
      const run = startCli(['decrypt', path, '--key', key, ...passArgs, '--password', archive.password, '--output', join(work, 'out', 'out.ts'), '--quiet', ...args], {
        ...passEnv,
        ARCHIVE_CRYPT_NATIVE: nativeCore,
      });
      // Cut the file once part of the plaintext is out: the run is past its start, mid-archive.
      const started = await waitForOutputOpen(run.child.pid ?? 0, join(work, 'out'), run.exited, 4 * MiB).then(
        () => true,
        () => false,
      );
      if (started) await truncate(path, CUT_TO);
      const code = await run.exited;
      outcomes.push(`${code}`);
      expect(run.child.signalCode, run.stderr()).toBeNull(); // SIGBUS would end it with no code
      if (code === 0) continue; // finished before the cut: try again
      expect(code, run.stderr()).toBe(5);
      oneErrorLine(run.stderr(), /shrank while it was read/);
      expect(await leftIn(join(work, 'out'))).toEqual([]);
      hits += 1;
    }
    expect(hits, `exit codes: ${outcomes.join(', ')}`).toBe(HITS_WANTED);
  });
});
