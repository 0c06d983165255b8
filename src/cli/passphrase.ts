/**
 * Where passphrases come from: an environment variable, a file, or a hidden prompt on a TTY.
 * Never argv (visible in `ps`), never printed.
 */
import { readFile, stat } from 'node:fs/promises';
import { foreignOwner, looseKeyFileMode } from '../keys/load.js';
import { KeyError, UsageError } from '../errors.js';
import type { CliContext } from './context.js';

export interface PassphraseOptions {
  passphraseEnv?: string;
  passphraseFile?: string;
}

/** A lazy passphrase getter: asks (or reads) once, only if a key turns out to be encrypted. */
export type PassphraseProvider = () => Promise<string>;

export function passphraseProvider(ctx: CliContext, opts: PassphraseOptions, prompt = 'Passphrase: '): PassphraseProvider {
  checkOneSource(opts);
  let cached: Promise<string> | undefined;
  return () => (cached ??= readPassphrase(ctx, opts, { prompt, confirm: false }));
}

/**
 * Reads a passphrase for a new key. On a TTY it asks twice; without any source it refuses rather
 * than silently writing an unencrypted key.
 */
export async function newPassphrase(ctx: CliContext, opts: PassphraseOptions): Promise<string> {
  const passphrase = await readPassphrase(ctx, opts, { prompt: 'New passphrase: ', confirm: true });
  if (passphrase.length < 8) {
    throw new UsageError('passphrase too short: use at least 8 characters (or --no-passphrase for an unencrypted key)');
  }
  return passphrase;
}

function checkOneSource(opts: PassphraseOptions): void {
  if (opts.passphraseEnv !== undefined && opts.passphraseFile !== undefined) {
    throw new UsageError('give --passphrase-env or --passphrase-file, not both');
  }
}

/** A value of an environment variable that must be set; `origin` names the option or field that named it. */
export function requireVariable(ctx: CliContext, variable: string, origin: string): string {
  const value = ctx.env[variable];
  if (value === undefined || value === '') throw new UsageError(`environment variable ${variable} (${origin}) is not set or empty`);
  return value;
}

/** Reads a passphrase file: its first line, without the line break. */
export async function readPassphraseFile(path: string, origin: string): Promise<string> {
  let text: string;
  let info: { mode: number; uid: number };
  try {
    info = await stat(path);
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read passphrase file ${path} (${origin})`);
  }
  // The same rule as for the key it unlocks: a secret others can read is not a secret.
  const loose = looseKeyFileMode(info.mode);
  if (loose !== undefined) throw new KeyError(`passphrase file ${path} is accessible by group or others (mode ${loose}): run chmod 600 ${path}`);
  if (foreignOwner(info.uid) !== undefined) throw new KeyError(`passphrase file ${path} belongs to another user: use your own copy`);
  // The first line only, as `openssl -passin file:` reads it.
  const value = text.split(/\r?\n/, 1)[0] ?? '';
  if (value === '') throw new UsageError(`passphrase file ${path} (${origin}) is empty`);
  return value;
}

/** Asks on the terminal, or explains which options would give the passphrase without one. */
export async function promptPassphrase(ctx: CliContext, prompt: string): Promise<string> {
  if (!ctx.stdin.isTTY || !ctx.stderr.isTTY) {
    throw new KeyError('a passphrase is needed but there is no terminal to ask: use --passphrase-env VAR or --passphrase-file FILE');
  }
  const value = await promptHidden(ctx, prompt);
  if (value === '') throw new UsageError('empty passphrase');
  return value;
}

async function readPassphrase(
  ctx: CliContext,
  opts: PassphraseOptions,
  how: { prompt: string; confirm: boolean },
): Promise<string> {
  checkOneSource(opts);
  if (opts.passphraseEnv !== undefined) return requireVariable(ctx, opts.passphraseEnv, 'from --passphrase-env');
  if (opts.passphraseFile !== undefined) return readPassphraseFile(opts.passphraseFile, 'from --passphrase-file');
  if (!ctx.stdin.isTTY || !ctx.stderr.isTTY) {
    throw new KeyError('a passphrase is needed but there is no terminal to ask: use --passphrase-env VAR or --passphrase-file FILE');
  }
  const first = await promptHidden(ctx, how.prompt);
  if (how.confirm) {
    const second = await promptHidden(ctx, 'Repeat passphrase: ');
    if (first !== second) throw new UsageError('the passphrases do not match');
  }
  if (first === '') throw new UsageError('empty passphrase');
  return first;
}

/** Reads one line from the TTY in raw mode without echoing it. */
function promptHidden(ctx: CliContext, prompt: string): Promise<string> {
  const input = ctx.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = input.isRaw;
    // Echo goes off before the prompt shows: an answer typed (or pasted) at once must not appear.
    input.setRawMode(true);
    ctx.stderr.write(prompt);
    input.resume();
    input.setEncoding('utf8');
    const finish = (error?: Error) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      ctx.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}
