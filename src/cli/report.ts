/**
 * The human summaries of the archive commands (stderr; stdout may carry the media) and the messages
 * they share. Where the JSON goes is output.ts's job.
 */
import type { DecryptReport } from '../engine/archive/decrypt.js';
import type { Source } from '../storage/source.js';

/** Which key opened the password, added to the engine's report by the CLI. */
export interface KeyUsed {
  /** 0-based position in the `--key` list. */
  index: number;
  path: string;
  oaepHash: 'sha1' | 'sha256';
  /** How many keys the keyring held. */
  of: number;
}

/**
 * The `--json` document of `decrypt`: the engine's report plus what the CLI knows; `output` is null
 * for a verify-only run.
 */
export type DecryptJson = Omit<DecryptReport, 'output'> & { output: string | null; archiveId?: string; key?: KeyUsed };

const what = { ciphertext: 'the encrypted archive', plaintext: 'the decrypted media' } as const;

/**
 * The human summary of a successful decrypt, one check per line.
 *
 * @example
 * ```
 * verified test/fixtures/vonage/archive.mp4 → nowhere (verify only)
 *   key      test/fixtures/vonage/key.pem (key 1 of 1, RSA-OAEP SHA-1)
 *   length   ok: 67872 bytes encrypted, 67868 bytes decrypted
 * ```
 */
export function formatDecryptSummary(report: DecryptJson): string {
  const lines = [`${report.ok ? 'verified' : 'FAILED'} ${report.source} → ${report.output ?? 'nowhere (verify only)'}`];
  const row = (name: string, text: string) => lines.push(`  ${name.padEnd(9)}${text}`);
  if (report.archiveId !== undefined) row('archive', report.archiveId);
  if (report.key) row('key', `${report.key.path} (key ${report.key.index + 1} of ${report.key.of}, RSA-OAEP ${report.key.oaepHash === 'sha1' ? 'SHA-1' : 'SHA-256'})`);
  const { checks } = report;
  row('length', `${checks.length}: ${report.ciphertextBytes} bytes encrypted, ${report.plaintextBytes} bytes decrypted`);
  row('padding', checks.padding === 'skipped' ? 'kept (--padding none, like openssl -nopad)' : `${checks.padding} (PKCS#7 removed)`);
  row(
    'MPEG-TS',
    checks.mpegts.status === 'skipped'
      ? 'not checked (--no-mpegts-check)'
      : `${checks.mpegts.status}: ${checks.mpegts.packets} packets of 188 bytes${checks.mpegts.trailingBytes ? ` + ${checks.mpegts.trailingBytes} trailing bytes` : ''}`,
  );
  row(
    'sha256',
    checks.sha256.status === 'skipped'
      ? 'not checked (no --expect-sha256 or archive JSON sha256sum)'
      : checks.sha256.matched
        ? `${checks.sha256.status}: matches ${what[checks.sha256.matched]}`
        : `${checks.sha256.status}: matches neither the encrypted archive nor the decrypted media`,
  );
  if (checks.storage.status !== 'skipped') {
    row('storage', `${checks.storage.status}: ${checks.storage.algorithms.join(', ')} of the store matches the bytes received`);
  }
  if (checks.size.status !== 'skipped') {
    row('size', checks.size.matched ? `${checks.size.status}: ${checks.size.expected} bytes, matches ${what[checks.size.matched]}` : `${checks.size.status}: expected ${checks.size.expected} bytes`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * A failed check on a file that starts with the sealed format's magic: the operator gave `decrypt` or `reseal`
 * what `unseal` opens. Looked at only after a failure (a success costs nothing) and only where the first
 * bytes can be read again (not stdin). The report stays; the message says what to do.
 */
export async function sealedInputError(error: unknown, source: Source): Promise<unknown> {
  const { ArchiveCheckError } = await import('../engine/archive/decrypt.js');
  if (!(error instanceof ArchiveCheckError) || !source.rangeable) return error;
  const { SEALED_MAGIC } = await import('../format/sealed.js');
  const head: Buffer[] = [];
  try {
    for await (const chunk of source.read(0, SEALED_MAGIC.length)) head.push(Buffer.from(chunk));
  } catch {
    return error;
  }
  if (!Buffer.concat(head).subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC)) return error;
  return new ArchiveCheckError(`${source.name} is a sealed file (archive-crypt's own format), not a Vonage archive: use archive-crypt unseal`, error.report, { cause: error });
}
