/** `keys generate --days N` warns when N < 30 and still writes the keys; 30 and more stay quiet. In process. */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';

describe('keys generate --days', () => {
  it.each([
    { days: 7, warns: true },
    { days: 30, warns: false },
  ])('--days $days: warning $warns', async ({ days, warns }) => {
    const out = join(await tempDir(), 'keys');
    const result = await runCliInProcess(['keys', 'generate', '--out', out, '--days', String(days), '--no-passphrase']);
    expect(result.code).toBe(0);
    const warning = `archive-crypt: warning: --days ${days} makes a certificate that expires in under 30 days`;
    expect(result.stderr.includes(warning)).toBe(warns);
    const certificate = new X509Certificate(await readFile(join(out, 'archive-certificate.pem')));
    expect(Math.round((Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 86_400_000)).toBe(days);
  });
});
