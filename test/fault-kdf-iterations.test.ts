/**
 * Fault class: a hostile key file. A PKCS#12 file or an encrypted PKCS#8 key whose key-derivation
 * iteration count was raised to 2 billion would keep a command busy for days; it is refused at once
 * (exit 3, one line naming the count and the limit). The files are made by openssl with a normal
 * count and then only that INTEGER is re-encoded (node-forge's ASN.1), so nothing else changes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { openssl, tempDir } from './support/helpers.js';
import { runCliInProcess } from './support/cli-in-process.js';
import { passArgs, passEnv, vonageFixture as fx } from './support/vonage-fixture.js';

let dir: string;
const hostile = 2_000_000_000;

/** Re-encodes `der` with the INTEGER found by `pick` set to `value`. */
function withIterations(der: Buffer, pick: (root: forge.asn1.Asn1) => forge.asn1.Asn1, value: number): Buffer {
  const root = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
  const node = pick(root);
  expect(node.type).toBe(forge.asn1.Type.INTEGER);
  node.value = forge.asn1.integerToDer(value).getBytes();
  return Buffer.from(forge.asn1.toDer(root).getBytes(), 'binary');
}

const child = (node: forge.asn1.Asn1, ...path: number[]): forge.asn1.Asn1 =>
  path.reduce((at, i) => (at.value as forge.asn1.Asn1[])[i] as forge.asn1.Asn1, node);

beforeAll(async () => {
  dir = await tempDir('archive-crypt-fault-kdf-');
  const pass = `pass:${passEnv.FIXTURE_PASS}`;
  await openssl(['pkcs12', '-export', '-inkey', fx.keyPem, '-passin', pass, '-in', fx.certPem, '-out', join(dir, 'normal.p12'), '-passout', pass, '-iter', '2048', '-maciter']);
  await openssl(['pkcs8', '-topk8', '-in', fx.keyPem, '-passin', pass, '-v2', 'aes-256-cbc', '-iter', '2048', '-outform', 'DER', '-out', join(dir, 'normal.der'), '-passout', pass]);
  // PFX ::= SEQUENCE { version, authSafe, macData SEQUENCE { mac, macSalt, iterations } }
  await writeFile(join(dir, 'mac.p12'), withIterations(await readFile(join(dir, 'normal.p12')), (root) => child(root, 2, 2), hostile), { mode: 0o600 });
  // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier { PBES2, { PBKDF2 { salt, iterationCount, … }, scheme } }, data }
  const pkcs8 = withIterations(await readFile(join(dir, 'normal.der')), (root) => child(root, 0, 1, 0, 1, 1), hostile);
  const dashes = '-'.repeat(5); // no PEM key literal in the repository
  const pem = `${dashes}BEGIN ENCRYPTED PRIVATE KEY${dashes}\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n')}\n${dashes}END ENCRYPTED PRIVATE KEY${dashes}\n`;
  await writeFile(join(dir, 'pbkdf2.pem'), pem.replace(/\n\n/g, '\n'), { mode: 0o600 });
});

describe('a key file asking for 2 billion key-derivation iterations', () => {
  it.each(['mac.p12', 'pbkdf2.pem'])('%s is refused at once: exit 3, one line', async (name) => {
    const result = await runCliInProcess(['decrypt', fx.archive, '--key', join(dir, name), ...passArgs, '--password-file', fx.passwordFile], passEnv);
    expect(result.stderr).toMatch(/^archive-crypt: [^\n]*2,000,000,000 key-derivation iterations, outside 1 to 10,000,000[^\n]*\n$/);
    expect(result.stderr).not.toContain(passEnv.FIXTURE_PASS);
    expect(result.code).toBe(3);
  });
});
