/**
 * The committed Vonage-format fixture (test/fixtures/vonage, made by scripts/make-fixtures.sh with the
 * openssl command line) and the real MPEG-TS it encrypts (test/fixtures/media/sample.ts).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { chmod, copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createArchivePassword } from '../../src/format/opentok.js';
import { loadCertificate } from '../../src/keys/load.js';
import { fixtures, tempDir } from './helpers.js';

const dir = join(fixtures, 'vonage');

export const vonageFixture = {
  keyPem: join(dir, 'key.pem'),
  certPem: join(dir, 'cert.pem'),
  archive: join(dir, 'archive.mp4'),
  passwordFile: join(dir, 'password.txt'),
  archiveJson: join(dir, 'archive.json'),
  archiveId: 'b40ef09b-3811-4726-b508-e41a0f96c68f',
  /** The media inside archive.mp4. */
  sample: join(fixtures, 'media', 'sample.ts'),
} as const;

/** The key's passphrase travels through this environment variable (never argv). */
export const passEnv = { FIXTURE_PASS: 'fixture-passphrase' } as const;
export const passArgs = ['--passphrase-env', 'FIXTURE_PASS'] as const;

/** Copies the fixture key into `dir` with mode 0600: git does not keep modes, and loose keys are refused. */
export async function privateKeyCopy(dir: string, name = 'key.pem'): Promise<string> {
  const path = join(dir, name);
  await copyFile(vonageFixture.keyPem, path);
  await chmod(path, 0o600);
  return path;
}

/**
 * A test file's working folder (removed after the file) with its own 0600 copy of the fixture key, and
 * the fixture's media: what the archive decrypts to.
 */
export async function fixtureWorkspace(): Promise<{ dir: string; key: string; sample: Buffer }> {
  const dir = await tempDir();
  return { dir, key: await privateKeyCopy(dir), sample: await readFile(vonageFixture.sample) };
}

/**
 * Encrypts `media` as Vonage does (a fresh AES-256 key and IV, wrapped with RSA-OAEP in the password)
 * for a certificate, the fixture's by default: the one builder of Vonage-format archives in the tests.
 */
export async function vonageArchive(media: Buffer, certPem: string = vonageFixture.certPem): Promise<{ body: Buffer; password: string }> {
  const { publicKey } = await loadCertificate(certPem);
  const { password, key, iv } = createArchivePassword(publicKey);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return { body: Buffer.concat([cipher.update(media), cipher.final()]), password };
}

/** A fresh archive in Vonage's format (see vonageArchive) and its REST JSON item. */
export async function encryptedArchive(
  id: string,
  media: Buffer,
  projectId: string,
  certPem: string = vonageFixture.certPem,
): Promise<{ id: string; body: Buffer; item: Record<string, unknown> }> {
  const { body, password } = await vonageArchive(media, certPem);
  const item = {
    id,
    status: 'uploaded',
    projectId: Number(projectId),
    size: body.length,
    sha256sum: createHash('sha256').update(body).digest('base64'),
    password,
    outputMode: 'composed',
    url: null,
  };
  return { id, body, item };
}
