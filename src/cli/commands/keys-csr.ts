/** `keys csr`: a PKCS#10 request for organisations whose own CA signs the archive certificate. */
import { createCsr } from '../../keys/csr.js';
import { assertPathsAbsent } from '../../keys/archive-keys.js';
import { loadPrivateKey } from '../../keys/load.js';
import { parseSubject, formatSubject } from '../../keys/subject.js';
import { openFileSink } from '../../engine/output.js';
import type { CliContext } from '../context.js';
import { passphraseProvider } from '../passphrase.js';
import { isPkcs11Uri } from '../../keys/pkcs11-uri.js';
import { openCliPkcs11Key } from '../pkcs11.js';
import type { CsrFlags } from './keys.js';

export async function csrCommand(ctx: CliContext, opts: CsrFlags): Promise<void> {
  const subject = parseSubject(opts.subject);
  await assertPathsAbsent([opts.output]);
  let pem: string;
  if (isPkcs11Uri(opts.key)) {
    const key = await openCliPkcs11Key(ctx, opts.key, opts);
    try {
      pem = await createCsr({ privateKey: key, subject }); // Signed on the token.
    } finally {
      await key.close();
    }
  } else {
    const { key } = await loadPrivateKey(opts.key, passphraseProvider(ctx, opts));
    pem = await createCsr({ privateKey: key, subject });
  }
  const sink = await openFileSink(opts.output, { mode: 0o644 });
  try {
    await sink.write(Buffer.from(pem));
    await sink.commit();
  } catch (error) {
    await sink.abort();
    throw error;
  }
  ctx.stdout.write(
    `Wrote ${opts.output} (PKCS#10, SHA-256 with RSA, subject ${formatSubject(subject)})\n` +
      'Have your CA sign it, check the result with "archive-crypt keys check", then register the certificate with Vonage.\n',
  );
}
