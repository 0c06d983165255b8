/**
 * `archive-crypt encrypt`: makes an archive exactly in Vonage's format (fresh AES-256 key and IV,
 * CBC/PKCS#7, password = RSA-OAEP-SHA-1 for the certificate), so that a pipeline can be tested end to
 * end without a Vonage project. Its output is ciphertext: the plaintext-file policy does not apply.
 */
import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import type { EncryptResult } from '../../engine/archive/encrypt.js';
import type { OutputSink } from '../../storage/output-sink.js';
import { OutputError, UsageError } from '../../errors.js';
import { flushed, type CliContext } from '../context.js';
import { addReportOptions, type ReportFlags } from '../output.js';
import { refuseExistingOutput, runPipeline } from '../pipeline.js';
import { loadRecipients } from '../recipients.js';

interface EncryptOptions extends ReportFlags {
  cert: string;
  output: string;
  passwordOut?: string;
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
  const command = program
    .command('encrypt')
    .description("encrypt media in Vonage's archive format for a certificate (to test a pipeline end to end)")
    .argument('<input>', 'the media to encrypt: a path or - (stdin)')
    .requiredOption('--cert <pem>', 'the X.509 certificate (the one registered with Vonage)')
    .requiredOption('-o, --output <file|->', 'where the encrypted archive goes: FILE (never overwritten) or - for stdout')
    .option('--password-out <file>', 'write the password to FILE (mode 0600) instead of stdout');
  addReportOptions(command)
    .addHelpText('after', EXAMPLE)
    .action((input: string, opts: EncryptOptions) => encryptCommand(ctx, input, opts));
}

interface EncryptOutputs {
  archive: ReturnType<typeof hashing>;
  password: OutputSink | undefined;
}

async function encryptCommand(ctx: CliContext, inputSpec: string, opts: EncryptOptions): Promise<void> {
  const outputLabel = opts.output === '-' ? 'stdout' : opts.output;
  await runPipeline<undefined, KeyObject[], EncryptOutputs, EncryptResult & { sha256sum: string; commitAfterReport: (() => Promise<void>) | undefined }>(ctx, {
    readsStdin: inputSpec === '-',
    async check() {
      if (opts.output === '-' && opts.passwordOut === undefined) {
        throw new UsageError('with --output - the archive fills stdout: give --password-out FILE for the password');
      }
      if (opts.output === '-' && ctx.stdout.isTTY) throw new UsageError('refusing to write an archive to a terminal: redirect --output - or give --output FILE');
      await refuseExistingOutput(opts.passwordOut);
      await refuseExistingOutput(opts.output);
      return undefined;
    },
    describe: () => ({ source: inputSpec === '-' ? 'stdin' : inputSpec, output: outputLabel }),
    keys: () => loadRecipients([opts.cert]),
    async outputs(_plan, _keys, claim) {
      const { openFileSink } = await import('../../storage/file-sink.js');
      const { streamSink } = await import('../../storage/output-sink.js');
      // Both outputs are claimed before reading: an existing file is refused before any work is done.
      const password = opts.passwordOut === undefined ? undefined : claim(await openFileSink(opts.passwordOut));
      const archive = hashing(claim(opts.output === '-' ? streamSink(ctx.stdout) : await openFileSink(opts.output)));
      return { archive, password };
    },
    async run({ keys: [publicKey], outputs }) {
      const { openSource } = await import('../../storage/open.js');
      const { encryptArchive } = await import('../../engine/archive/encrypt.js');
      const source = await openSource(inputSpec, { stdin: ctx.stdin });
      // The archive is committed only once its password is durably on disk (the password sink fsyncs
      // at commit): a full disk or a crash in between must not leave an archive nobody can open.
      const archiveCommit = outputs.archive.deferCommit();
      const result = await encryptArchive({ source, publicKey: publicKey as KeyObject, sink: outputs.archive.sink, signal: ctx.signal }).finally(() => source.close?.());
      if (outputs.password) {
        await outputs.password.write(Buffer.from(`${result.password}\n`));
        await outputs.password.commit();
      }
      // Without --json the bare password is what stdout is for (encrypt … > password.txt). It is then
      // the only copy of the password: the archive is committed only once stdout took it, so a closed
      // pipe does not leave an archive nobody can open.
      if (!outputs.password && ctx.report?.json !== true) await writeOrThrow(ctx.stdout, `${result.password}\n`);
      // With --json the document carries the only copy of the password: commit after it went out (finish).
      const commitAfterReport = !outputs.password && ctx.report?.json === true;
      if (!commitAfterReport) await archiveCommit();
      return { ...result, sha256sum: outputs.archive.digest(), commitAfterReport: commitAfterReport ? archiveCommit : undefined };
    },
    async finish({ commitAfterReport }) {
      if (commitAfterReport === undefined) return;
      await flushed(ctx.stdout);
      if (ctx.stdoutClosed) throw new OutputError('stdout was closed before the report with the password was printed; the archive was removed');
      await commitAfterReport();
    },
    report: (result) => ({
      // A Vonage-like archive object: decrypt --archive-json accepts it as it is.
      json: {
        id: randomUUID(),
        status: 'uploaded',
        size: result.ciphertextBytes,
        sha256sum: result.sha256sum,
        ...(opts.passwordOut === undefined ? { password: result.password } : {}),
        plaintextBytes: result.plaintextBytes,
        output: outputLabel,
        ...(opts.passwordOut !== undefined ? { passwordFile: opts.passwordOut } : {}),
      },
      text:
        `encrypted ${inputSpec === '-' ? 'stdin' : inputSpec} (${result.plaintextBytes} bytes) → ${outputLabel} (${result.ciphertextBytes} bytes)` +
        `${opts.passwordOut !== undefined ? `; password in ${opts.passwordOut}` : ''}`,
    }),
  });
}

/** Writes `text` and waits until the stream took it; a failed write (EPIPE) throws. */
function writeOrThrow(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (error) => (error ? reject(new OutputError('stdout was closed before the password was printed; the archive was removed', { cause: error })) : resolve()));
  });
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
