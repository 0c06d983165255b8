/**
 * SoftHSM2 tokens for tests: a private token folder per test file (SOFTHSM2_CONF points at a config
 * whose directories.tokendir is inside a temporary folder), initialised with softhsm2-util, and OpenSC's
 * pkcs11-tool as the independent judge. Both come from Debian (.ci/run installs them when missing).
 * The library reads SOFTHSM2_CONF when the module initialises, so `useSoftHsm()` sets it in this
 * process too (the in-process CLI and the library load the module here).
 */
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runProgram, tempDir, type RunResult } from './helpers.js';

/** Where Debian (and most distributions) put the SoftHSM2 module. */
const moduleCandidates = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];

export const SO_PIN = '87654321';

export interface SoftHsm {
  /** Path of libsofthsm2.so. */
  module: string;
  /** SOFTHSM2_CONF for child processes. */
  env: { SOFTHSM2_CONF: string };
  /** Initialises a new token with this label and user PIN. */
  initToken(label: string, pin: string): Promise<void>;
  /** Imports an unencrypted PKCS#8 PEM key file as a private key object (softhsm2-util --import). */
  importKey(token: string, pin: string, keyPem: string, object: string, idHex: string): Promise<void>;
  /** Runs pkcs11-tool against the module; throws with its stderr when it fails. */
  pkcs11Tool(args: string[]): Promise<RunResult>;
}

/** A fresh SoftHSM2 with no tokens, private to the calling test file. @throws naming what is missing. */
export async function useSoftHsm(): Promise<SoftHsm> {
  const module = await firstExisting(moduleCandidates);
  if (!module) throw new Error(`SoftHSM2 is not installed (none of ${moduleCandidates.join(', ')}): apt-get install softhsm2 opensc, as .ci/run does`);
  const dir = await tempDir('archive-crypt-softhsm-');
  const tokenDir = join(dir, 'tokens');
  await mkdir(tokenDir);
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = conf;
  const env = { SOFTHSM2_CONF: conf };
  const run = async (command: string, args: string[]) => {
    const result = await runProgram(command, args, { env });
    if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr}${result.stdout}`);
    return result;
  };
  return {
    module,
    env,
    async initToken(label, pin) {
      await run('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', pin]);
    },
    async importKey(token, pin, keyPem, object, idHex) {
      await run('softhsm2-util', ['--import', keyPem, '--token', token, '--label', object, '--id', idHex, '--pin', pin]);
    },
    pkcs11Tool: (args) => run('pkcs11-tool', ['--module', module, ...args]),
  };
}

async function firstExisting(paths: readonly string[]): Promise<string | undefined> {
  for (const path of paths) {
    try {
      await access(path);
      return path;
    } catch {
      // try the next
    }
  }
  return undefined;
}
