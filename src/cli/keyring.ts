/**
 * The keyring of a run: every `--key` (or, without one, the config file's `keyring`), each with its
 * own passphrase source, so that archives made under an old certificate still decrypt after a
 * rotation even when the old key has another passphrase (README, "Rotating keys").
 *
 * Passphrase options pair with keys by position: the Nth `--passphrase-env`/`--passphrase-file` (in
 * the order given, both kinds counted together) belongs to the Nth `--key`; a single one applies to
 * every key. An encrypted key without one is prompted for on a terminal, naming its file. A key that
 * cannot be opened is reported and skipped, so every other key is still tried before the run says no
 * key matches (exit 3).
 */
import type { KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import { KeyError, UsageError } from '../errors.js';
import type { Keyring, PrivateKeyHandle } from '../keys/keyring.js';
import type { CliContext } from './context.js';
import { promptPassphrase, readPassphraseFile, requireVariable } from './passphrase.js';

/** Where one key's passphrase comes from; `origin` names the option or config field for messages. */
export type PassphraseChoice = { kind: 'env'; variable: string; origin: string } | { kind: 'file'; path: string; origin: string };

/** The key flags as commander hands them over (see `addKeyOptions`). */
export interface KeyFlags {
  key?: string[];
  /** `--pkcs11-module PATH` for `pkcs11:` keys (docs/HSM.md). */
  pkcs11Module?: string;
  /** Both passphrase options fill one list, in command-line order. */
  passphraseEnv?: PassphraseChoice[];
  passphraseFile?: PassphraseChoice[];
}

/** One key to open: a path or a `pkcs11:` URI, with its passphrase source if one was given. */
export interface KeySpec {
  key: string;
  passphrase?: PassphraseChoice;
}

/** What `planKeyring` checked: the keys in order and the PKCS#11 module for token keys. */
export interface KeyPlan {
  keys: KeySpec[];
  pkcs11Module?: string;
}

/** An opened keyring and what the run reports about it. */
export interface LoadedKeyring {
  /** The library keyring (src/keys/keyring.ts) every engine entry point takes. */
  handles: Keyring;
  /** The file keys as KeyObjects (not token keys), for callers that still need them. */
  keys: KeyObject[];
  /** Keys that could not be opened, with the reason (already warned about on stderr). */
  skipped: { key: string; reason: string }[];
}

/**
 * Adds `-k/--key`, `--passphrase-env` and `--passphrase-file` to a command (repeatable, paired by
 * position). Call once per command: the two passphrase options share one ordered list.
 */
export function addKeyOptions(command: Command, keyHelp = 'private key (PEM, DER or PKCS#12); repeat for older keys after a rotation'): Command {
  const choices: PassphraseChoice[] = [];
  const position = () => (choices.length === 0 ? '' : ` number ${choices.length + 1}`);
  return command
    .option('-k, --key <file>', `${keyHelp} (default: the config file's keyring)`, (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option(
      '--passphrase-env <var>',
      'read the key passphrase from this environment variable; repeat to give the Nth --key its own',
      (variable: string) => {
        choices.push({ kind: 'env', variable, origin: `from --passphrase-env${position()}` });
        return choices;
      },
    )
    .option('--passphrase-file <file>', 'read the key passphrase from this file; repeat to give the Nth --key its own', (path: string) => {
      choices.push({ kind: 'file', path, origin: `from --passphrase-file${position()}` });
      return choices;
    })
    .option('--pkcs11-module <path>', 'PKCS#11 module for pkcs11: keys (or module-path= in the URI, or ARCHIVE_CRYPT_PKCS11_MODULE)');
}

/**
 * Pairs keys with passphrase sources and checks what can be checked without touching a key: counts,
 * and that named environment variables are set. Run with the other flag checks, before any prompt.
 */
export function planKeyring(ctx: CliContext, flags: KeyFlags): KeyPlan {
  const choices = flags.passphraseEnv ?? flags.passphraseFile ?? [];
  const fromFlags = flags.key !== undefined && flags.key.length > 0;
  const configured = ctx.config.keyring;
  if (!fromFlags && configured === undefined) {
    throw new UsageError('give the private key with --key FILE (repeat --key for older keys), or list keys in the config file\'s "keyring"');
  }
  const keys: KeySpec[] = fromFlags
    ? (flags.key ?? []).map((key) => ({ key }))
    : (configured ?? []).map((entry, index) => {
        const origin = `keyring[${index}] of ${ctx.configFile ?? 'the config file'}`;
        const passphrase: PassphraseChoice | undefined =
          entry.passphraseEnv !== undefined
            ? { kind: 'env', variable: entry.passphraseEnv, origin: `${origin}, passphraseEnv` }
            : entry.passphraseFile !== undefined
              ? { kind: 'file', path: entry.passphraseFile, origin: `${origin}, passphraseFile` }
              : undefined;
        return { key: entry.path ?? entry.uri ?? '', ...(passphrase ? { passphrase } : {}) };
      });
  // Flags override the file: passphrase options given on the command line apply to the configured keys too.
  if (choices.length > 1 && choices.length !== keys.length) {
    throw new UsageError(
      `${keys.length} key${keys.length === 1 ? '' : 's'} but ${choices.length} passphrase options: give one for all keys, or one per key in the order of the keys`,
    );
  }
  const paired = keys.map((spec, index) => {
    const passphrase = choices.length === 0 ? spec.passphrase : choices[choices.length === 1 ? 0 : index];
    return { key: spec.key, ...(passphrase ? { passphrase } : {}) };
  });
  for (const { passphrase } of paired) if (passphrase?.kind === 'env') requireVariable(ctx, passphrase.variable, passphrase.origin);
  return { keys: paired, ...(flags.pkcs11Module !== undefined ? { pkcs11Module: flags.pkcs11Module } : {}) };
}

/**
 * Opens every key, in order (prompting for encrypted keys without a source). A key that cannot be
 * opened is skipped with a warning; if none opens, the KeyError says why for each.
 */
export async function loadKeyring(ctx: CliContext, plan: KeyPlan): Promise<LoadedKeyring> {
  const { keys: specs, pkcs11Module } = plan;
  const { createKeyring } = await import('../keys/keyring.js');
  const handles: PrivateKeyHandle[] = [];
  const keyObjects: KeyObject[] = [];
  const skipped: { key: string; reason: string; error: KeyError }[] = [];
  // One source shared by several keys is read (or asked) once.
  const cache = new Map<PassphraseChoice, Promise<string>>();
  for (const spec of specs) {
    try {
      const opened = await openKeyHandle(ctx, spec, (choice) => {
        let value = cache.get(choice);
        if (!value) cache.set(choice, (value = readChoice(ctx, choice)));
        return value;
      }, pkcs11Module);
      handles.push(opened.handle);
      if (opened.keyObject) keyObjects.push(opened.keyObject);
    } catch (error) {
      if (!(error instanceof KeyError) || specs.length === 1) {
        await Promise.all(handles.map((handle) => handle.close()));
        throw error;
      }
      skipped.push({ key: spec.key, reason: error.message, error });
      ctx.stderr.write(`archive-crypt: warning: skipping key ${spec.key}: ${error.message}\n`);
    }
  }
  if (handles.length === 0) {
    throw new KeyError(`none of the ${specs.length} keys could be opened: ${skipped.map((item) => item.reason).join('; ')}`);
  }
  return { handles: createKeyring(handles), keys: keyObjects, skipped: skipped.map(({ key, reason }) => ({ key, reason })) };
}

/**
 * Where one `--key` value becomes a PrivateKeyHandle. File keys load here; `pkcs11:` URIs are the
 * place where token keys plug in (src/keys/pkcs11*.ts).
 */
export async function openKeyHandle(
  ctx: CliContext,
  spec: KeySpec,
  passphraseOf: (choice: PassphraseChoice) => Promise<string>,
  pkcs11Module?: string,
): Promise<{ handle: PrivateKeyHandle; keyObject?: KeyObject }> {
  const { passphrase: choice } = spec;
  const { isPkcs11Uri } = await import('../keys/pkcs11-uri.js');
  if (isPkcs11Uri(spec.key)) {
    // The token's PIN comes from the key's passphrase source, else a prompt naming the token (src/cli/pkcs11.ts).
    const { openCliPkcs11Key } = await import('./pkcs11.js');
    const flags = choice === undefined ? {} : choice.kind === 'env' ? { passphraseEnv: choice.variable } : { passphraseFile: choice.path };
    return { handle: await openCliPkcs11Key(ctx, spec.key, { ...flags, ...(pkcs11Module !== undefined ? { pkcs11Module } : {}) }) };
  }
  const { loadPrivateKey } = await import('../keys/load.js');
  const { fileKeyHandle } = await import('../keys/keyring.js');
  // Without a source or a terminal, load.ts says the key is encrypted and which options give its passphrase.
  const canPrompt = ctx.stdin.isTTY === true && ctx.stderr.isTTY === true;
  const passphrase = choice ? () => passphraseOf(choice) : canPrompt ? () => promptPassphrase(ctx, `Passphrase for ${spec.key}: `) : undefined;
  const { key } = await loadPrivateKey(spec.key, passphrase);
  return { handle: fileKeyHandle(key, spec.key), keyObject: key };
}

function readChoice(ctx: CliContext, choice: PassphraseChoice): Promise<string> {
  return choice.kind === 'env'
    ? Promise.resolve(requireVariable(ctx, choice.variable, choice.origin))
    : readPassphraseFile(choice.path, choice.origin);
}
