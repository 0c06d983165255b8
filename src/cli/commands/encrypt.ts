/**
 * `archive-crypt encrypt`: makes an archive exactly in Vonage's format (fresh AES-256 key and IV,
 * CBC/PKCS#7, password = RSA-OAEP-SHA-1 for the certificate), so that a pipeline can be tested end to
 * end without a Vonage project. Its output is ciphertext: the plaintext-file policy does not apply.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { OutputSink } from '../../engine/output.js';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { toJsonText } from '../report.js';

interface EncryptOptions {
  cert: string;
  output: string;
  passwordOut?: string;
  json?: boolean;
}

const EXAMPLE = `
The password (what Vonage puts in the "password" field of the archive JSON) is printed on stdout, or
written to --password-out FILE (mode 0600, never overwritten) — required with --output -. With --json a
Vonage-like archive object {id, status, size, sha256sum, password} is printed instead (on stderr with
--output -), which decrypt --archive-json accepts as it is.

Examples:
  $ archive-crypt encrypt meeting.ts --cert archive-certificate.pem --output archive.mp4 > password.txt
  encrypted meeting.ts (67868 bytes) → archive.mp4 (67872 bytes)
  $ archive-crypt encrypt meeting.ts --cert archive-certificate.pem --output archive.mp4 --json > archive.json
  $ archive-crypt decrypt archive.mp4 --key archive-private-key.pem --passphrase-env KEY_PASS \\
      --archive-json archive.json

  # check the result with openssl alone, as in Vonage's guide
  $ base64 -d < password.txt | openssl pkeyutl -decrypt -inkey archive-private-key.pem \\
      -pkeyopt rsa_padding_mode:oaep | xxd -p -c 64   # 010101 ‖ key (64 hex) ‖ iv (32 hex)
  $ openssl enc -d -aes-256-cbc -K <key> -iv <iv> -in archive.mp4 -out meeting-again.ts
`;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('encrypt')
    .description("encrypt media in Vonage's archive format for a certificate (to test a pipeline end to end)")
    .argument('<input>', 'the media to encrypt: a path or - (stdin)')
    .requiredOption('--cert <pem>', 'the X.509 certificate (the one registered with Vonage)')
    .requiredOption('-o, --output <file|->', 'where the encrypted archive goes: FILE (never overwritten) or - for stdout')
    .option('--password-out <file>', 'write the password to FILE (mode 0600) instead of stdout')
    .option('--json', 'print a Vonage-like archive JSON object instead of the bare password')
    .addHelpText('after', EXAMPLE)
    .action((input: string, opts: EncryptOptions) => encryptCommand(ctx, input, opts));
}

async function encryptCommand(ctx: CliContext, inputSpec: string, opts: EncryptOptions): Promise<void> {
  if (opts.output === '-' && opts.passwordOut === undefined) {
    throw new UsageError('with --output - the archive fills stdout: give --password-out FILE for the password');
  }
  if (opts.output === '-' && ctx.stdout.isTTY) throw new UsageError('refusing to write an archive to a terminal: redirect --output - or give --output FILE');
  const { loadCertificate } = await import('../../keys/load.js');
  const { openFileSink, streamSink } = await import('../../engine/output.js');
  const { publicKey } = await loadCertificate(opts.cert);

  const sinks: OutputSink[] = [];
  try {
    // Both outputs are claimed before reading: an existing file is refused before any work is done.
    const passwordSink = opts.passwordOut === undefined ? undefined : await openFileSink(opts.passwordOut);
    if (passwordSink) sinks.push(passwordSink);
    const archiveSink = hashing(opts.output === '-' ? streamSink(ctx.stdout) : await openFileSink(opts.output));
    sinks.push(archiveSink.sink);

    const { openSource } = await import('../../storage/open.js');
    const { encryptArchive } = await import('../../engine/archive/encrypt.js');
    const source = await openSource(inputSpec, { stdin: ctx.stdin });
    // The archive is committed only once its password is durably on disk (the password sink fsyncs
    // at commit): a full disk or a crash in between must not leave an archive nobody can open.
    const archiveCommit = archiveSink.deferCommit();
    const result = await encryptArchive({ source, publicKey, sink: archiveSink.sink, signal: ctx.signal }).finally(() => source.close?.());
    if (passwordSink) {
      await passwordSink.write(Buffer.from(`${result.password}\n`));
      await passwordSink.commit();
    }
    await archiveCommit();

    const archive = {
      id: randomUUID(),
      status: 'uploaded',
      size: result.ciphertextBytes,
      sha256sum: archiveSink.digest(),
      ...(passwordSink ? {} : { password: result.password }),
      plaintextBytes: result.plaintextBytes,
      output: opts.output === '-' ? 'stdout' : opts.output,
      ...(opts.passwordOut !== undefined ? { passwordFile: opts.passwordOut } : {}),
    };
    if (opts.json) (opts.output === '-' ? ctx.stderr : ctx.stdout).write(toJsonText(archive));
    else {
      if (!passwordSink) ctx.stdout.write(`${result.password}\n`);
      ctx.stderr.write(
        `encrypted ${inputSpec === '-' ? 'stdin' : inputSpec} (${result.plaintextBytes} bytes) → ${archive.output} (${result.ciphertextBytes} bytes)` +
          `${opts.passwordOut !== undefined ? `; password in ${opts.passwordOut}` : ''}\n`,
      );
    }
  } catch (error) {
    for (const sink of sinks) await sink.abort();
    throw error;
  }
}

/** Wraps a sink to compute the SHA-256 of what passes through (the archive JSON's `sha256sum`), committing when told. */
function hashing(inner: OutputSink): { sink: OutputSink; digest: () => string; deferCommit: () => () => Promise<void> } {
  const hash = createHash('sha256');
  let deferred = false;
  return {
    sink: {
      name: inner.name,
      async write(chunk) {
        hash.update(chunk);
        await inner.write(chunk);
      },
      commit: () => (deferred ? Promise.resolve() : inner.commit()),
      abort: () => inner.abort(),
    },
    digest: () => hash.digest('base64'),
    /** The engine's commit() becomes a no-op; the returned function commits for real. */
    deferCommit() {
      deferred = true;
      return () => inner.commit();
    },
  };
}
