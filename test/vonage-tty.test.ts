/**
 * Confirmation prompts on a real pseudo-terminal (util-linux `script`): `vonage archive delete` and
 * `vonage storage set --no-certificate` ask, and only "y"/"yes" goes ahead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runProgram } from './support/helpers.js';
import { startVonageStub, type VonageStub } from './support/vonage-stub.js';

const apiKey = '47000000';
const apiSecret = 'project-api-secret-value';
const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

describe('confirmation on a terminal', () => {
  let stub: VonageStub;
  beforeAll(async () => {
    stub = await startVonageStub({ kind: 'project', apiKey, apiSecret });
  });
  afterAll(() => stub.close());

  /** Runs the CLI on a pseudo-terminal, typing `answer`. */
  const runOnTerminal = (args: string[], answer: string) =>
    runProgram('script', ['-qec', [process.execPath, cliPath, ...args].map(quote).join(' '), '/dev/null'], {
      env: { VONAGE_API_KEY: apiKey, VONAGE_API_SECRET: apiSecret, VONAGE_VIDEO_API_URL: stub.url, UP_AK: 'AK', UP_SK: 'SK' },
      input: answer,
    });

  it('archive delete: "n" keeps the archive, "y" deletes it', async () => {
    stub.archives = [{ id: 'a1', status: 'uploaded' }];
    const kept = await runOnTerminal(['vonage', 'archive', 'delete', 'a1'], 'n\n');
    expect(kept.stdout).toContain('Delete archive a1 from Vonage (its password goes with it)? [y/N]');
    expect(kept.stdout).toContain('archive-crypt: not confirmed: nothing was changed');
    expect(kept.code).toBe(2);
    expect(stub.archives).toHaveLength(1);
    const deleted = await runOnTerminal(['vonage', 'archive', 'delete', 'a1'], 'y\n');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain('deleted archive a1 from Vonage');
    expect(stub.archives).toHaveLength(0);
  });

  it('storage set --no-certificate asks before turning encryption off', async () => {
    stub.storage = undefined;
    const args = ['vonage', 'storage', 'set', '--no-key-check', '--s3-bucket', 'my-archives', '--s3-access-key-env', 'UP_AK', '--s3-secret-key-env', 'UP_SK', '--no-certificate'];
    const result = await runOnTerminal(args, 'yes\n');
    expect(result.stdout).toContain('Turn archive encryption off? Vonage will upload archives unencrypted. [y/N]');
    expect(result.code).toBe(0);
    expect(stub.storage).toMatchObject({ certificate: null });
  });
});
