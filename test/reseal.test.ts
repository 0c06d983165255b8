import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { createBucket, putS3Object, s3Env, uniqueName } from './support/emulators.js';
import { fixtureWorkspace, passArgs, passEnv, vonageFixture } from './support/vonage-fixture.js';
import { expectOneLineError } from './support/one-line-error.js';

const { dir, key, sample: media } = await fixtureWorkspace();

describe('reseal: Vonage archive → sealed file, plaintext never on disk', () => {
  const reseal = (source: string, output: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    runCliInProcess(['reseal', source, '--archive-json', vonageFixture.archiveJson, '--key', key, ...passArgs, '--to', vonageFixture.certPem, '--output', output, ...extra], { ...passEnv, ...env });

  it('reseals a file and the recipient unseals the original media', async () => {
    const sealed = join(dir, 'archive.sealed');
    const result = await reseal(vonageFixture.archive, sealed, ['--segment-log2', '12']);
    expect(result.stderr).toMatch(/resealed .*archive.mp4 → .*archive.sealed for key ids [0-9a-f]{16}/);
    expect(result.stderr).toMatch(/MPEG-TS ok \(361 packets\), sha256 ok \(ciphertext\), size ok/);
    expect(result.code).toBe(0);
    const bytes = await readFile(sealed);
    expect(bytes.includes(media.subarray(0, 4096))).toBe(false);
    const unsealed = await runCliInProcess(['unseal', sealed, '--key', key, ...passArgs, '--output', '-'], passEnv);
    expect(unsealed.code).toBe(0);
    expect(unsealed.stdoutBytes.equals(media)).toBe(true);
  });

  it('streams to stdout, and unseal reads it from stdin', async () => {
    const result = await reseal(vonageFixture.archive, '-', ['--quiet']);
    expect(result.code).toBe(0);
    const unsealed = await runCliInProcess(['unseal', '-', '--key', key, ...passArgs, '--output', '-'], passEnv, result.stdoutBytes);
    expect(unsealed.stdoutBytes.equals(media)).toBe(true);
  });

  it('reseals straight from S3', async () => {
    const bucket = uniqueName('reseal');
    const objectKey = `47000000/${vonageFixture.archiveId}/archive.mp4`;
    await createBucket(bucket);
    await putS3Object(bucket, objectKey, await readFile(vonageFixture.archive));
    const sealed = join(dir, 's3.sealed');
    // A real process: the AWS SDK takes its credentials from process.env, not from the CLI context's.
    const result = await runCli(['reseal', `s3://${bucket}/${objectKey}`, '--archive-json', vonageFixture.archiveJson, '--key', key, ...passArgs, '--to', vonageFixture.certPem, '--output', sealed], { env: { ...passEnv, ...s3Env() } });
    expect(result.code).toBe(0);
    const unsealed = await runCliInProcess(['unseal', sealed, '--key', key, ...passArgs, '--output', '-'], passEnv);
    expect(unsealed.stdoutBytes.equals(media)).toBe(true);
  });

  it.each([
    ['a flipped bit mid-archive (sha256sum of the JSON)', 'corrupt', 4, /sha256 mismatch/],
    ['an archive with its last block missing', 'short', 4, /not a multiple of 16|padding|size/],
  ])('refuses %s (%s) with exit %i and leaves no output', async (_name, kind, code, message) => {
    const archive = Buffer.from(await readFile(vonageFixture.archive));
    const damaged = kind === 'corrupt' ? archive : archive.subarray(0, archive.length - 16);
    if (kind === 'corrupt') damaged[30_000] = (damaged[30_000] ?? 0) ^ 0x01;
    const folder = await tempDir();
    const input = join(folder, 'archive.mp4');
    await writeFile(input, damaged);
    const result = await reseal(input, join(folder, 'out.sealed'));
    expectOneLineError(result, code, message);
    expect(await readdir(folder)).toEqual(['archive.mp4']);
  });

  it('refuses a recipient that is not a certificate (exit 3) and an existing output (exit 6)', async () => {
    const notCert = await runCliInProcess(['reseal', vonageFixture.archive, '--password-file', vonageFixture.passwordFile, '--key', key, '--to', vonageFixture.archive, '--output', join(dir, 'x.sealed')]);
    expect(notCert.code).toBe(3);
    expect(notCert.stderr).toMatch(/not an X.509 certificate/);
    const exists = await reseal(vonageFixture.archive, vonageFixture.archiveJson);
    expect(exists.code).toBe(6);
    expect(exists.stderr).toMatch(/already exists/);
  });
});
