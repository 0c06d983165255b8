import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KeyError, UsageError } from '../src/errors.js';
import { resolveVonageCredentials } from '../src/vonage/credentials.js';
import { tempDir } from './support/helpers.js';

let dir: string;
let keyFile: string;
let secretFile: string;
let looseSecretFile: string;
beforeAll(async () => {
  dir = await tempDir();
  keyFile = join(dir, 'application.key');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  secretFile = join(dir, 'secret');
  await writeFile(secretFile, 'from-a-file\n', { mode: 0o600 });
  looseSecretFile = join(dir, 'loose-secret');
  await writeFile(looseSecretFile, 'from-a-file\n', { mode: 0o644 });
});

describe('Vonage credentials', () => {
  it('takes the application form from the environment first, then the project form', async () => {
    const both = await resolveVonageCredentials({ VONAGE_APPLICATION_ID: 'app-1', VONAGE_PRIVATE_KEY: keyFile, VONAGE_API_KEY: '1', VONAGE_API_SECRET: 's' });
    expect(both.credentials).toMatchObject({ kind: 'application', applicationId: 'app-1' });
    const project = await resolveVonageCredentials({ VONAGE_API_KEY: '47000000', VONAGE_API_SECRET: 's' }, { applicationId: 'ignored', privateKeyFile: keyFile });
    expect(project.credentials).toEqual({ kind: 'project', apiKey: '47000000', apiSecret: 's' });
    expect(project.hint).toBe('VONAGE_API_KEY and VONAGE_API_SECRET (the project API key and secret)');
  });

  it('falls back to the config section, which names where the secrets are', async () => {
    const fromEnv = await resolveVonageCredentials({ MY_SECRET: 'from-env' }, { apiKey: '47000000', apiSecretEnv: 'MY_SECRET', apiUrl: 'https://proxy.example' });
    expect(fromEnv).toMatchObject({ credentials: { apiSecret: 'from-env' }, apiUrl: 'https://proxy.example', hint: 'vonage.apiKey and the secret in MY_SECRET' });
    const fromFile = await resolveVonageCredentials({ VONAGE_VIDEO_API_URL: 'http://127.0.0.1:9' }, { apiKey: '47000000', apiSecretFile: secretFile, apiUrl: 'https://proxy.example' });
    expect(fromFile).toMatchObject({ credentials: { apiSecret: 'from-a-file' }, apiUrl: 'http://127.0.0.1:9' });
    const application = await resolveVonageCredentials({}, { applicationId: 'app-2', privateKeyFile: keyFile });
    expect(application.credentials).toMatchObject({ kind: 'application', applicationId: 'app-2' });
  });

  it.each([
    ['nothing at all', {}, {}, UsageError, /^no Vonage credentials/],
    ['half the application form', { VONAGE_APPLICATION_ID: 'a' }, {}, UsageError, /set both VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY/],
    ['a missing key file', { VONAGE_APPLICATION_ID: 'a', VONAGE_PRIVATE_KEY: '/nonexistent/key' }, {}, KeyError, /not found/],
    ['both secret sources in the config', {}, { apiKey: '1', apiSecretEnv: 'X', apiSecretFile: 'y' }, UsageError, /exactly one of vonage.apiSecretEnv and vonage.apiSecretFile/],
    ['an unset secret variable', {}, { apiKey: '1', apiSecretEnv: 'UNSET' }, UsageError, /UNSET \(vonage.apiSecretEnv in the config file\) is not set/],
    ['an application without its key file', {}, { applicationId: 'a' }, UsageError, /needs vonage.privateKeyFile/],
  ])('refuses %s', async (_name, env, settings, type, message) => {
    const attempt = resolveVonageCredentials(env, settings);
    await expect(attempt).rejects.toThrow(type);
    await expect(resolveVonageCredentials(env as NodeJS.ProcessEnv, settings)).rejects.toThrow(message);
  });

  it('refuses a secret file others can read', async () => {
    await expect(resolveVonageCredentials({}, { apiKey: '1', apiSecretFile: looseSecretFile })).rejects.toThrow(/accessible by group or others .*chmod 600/);
  });
});
