import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { pkcs12Kdf } from '../src/keys/pkcs12.js';
import { formatSubject, parseSubject } from '../src/keys/subject.js';

describe('parseSubject', () => {
  it.each([
    ['CN=Archive key', [['CN', 'Archive key']]],
    ['CN=Archive key,O=Example Ltd,C=gb', [['CN', 'Archive key'], ['O', 'Example Ltd'], ['C', 'GB']]],
    [' cn = spaced , o = Example ', [['CN', 'spaced'], ['O', 'Example']]],
    ['CN=a\\,b,O=c', [['CN', 'a,b'], ['O', 'c']]],
    ['CN="quoted, comma",OU=x', [['CN', 'quoted, comma'], ['OU', 'x']]],
    ['/CN=openssl style/O=Example, Inc.', [['CN', 'openssl style'], ['O', 'Example, Inc.']]],
    ['CN=Ünïcode ключ', [['CN', 'Ünïcode ключ']]],
    ['E=a@example.com,ST=Bavaria,L=München', [['emailAddress', 'a@example.com'], ['ST', 'Bavaria'], ['L', 'München']]],
    ['CN=a=b', [['CN', 'a=b']]],
  ])('parses %j', (text, expected) => {
    expect(parseSubject(text).map((a) => [a.shortName, a.value])).toEqual(expected);
  });

  it.each([
    ['', /empty/],
    ['CN', /not NAME=value/],
    ['=x', /not NAME=value/],
    ['XX=1', /unknown attribute "XX"/],
    ['CN=', /CN is empty/],
    ['CN=a,,O=b', /not NAME=value/],
    ['C=GBR', /two-letter/],
    ['CN=' + 'x'.repeat(65), /longer than 64/],
    ['CN="unbalanced', /unbalanced/],
    ['CN=trailing\\', /lone backslash/],
    ['CN=a"b"c', /must be escaped/],
    ['CN=tab\there', /control characters/],
    ['E=ünï@example.com', /plain ASCII/],
  ])('refuses %j with a usage error', (text, message) => {
    expect(() => parseSubject(text)).toThrow(UsageError);
    expect(() => parseSubject(text)).toThrow(message);
  });

  it('formats back what it parsed', () => {
    const text = 'CN=a\\,b, O=Example Ltd';
    expect(formatSubject(parseSubject(text))).toBe(text);
  });
});

// generatePkcs12Key exists in node-forge but not in @types/node-forge.
const forgePbe = (forge as unknown as {
  pbe: { generatePkcs12Key(password: string, salt: forge.util.ByteStringBuffer, id: number, iter: number, n: number, md: forge.md.MessageDigest): forge.util.ByteStringBuffer };
}).pbe;

describe('pkcs12Kdf (RFC 7292 appendix B) agrees with node-forge', () => {
  const salt = Buffer.from('0a58cf64530d823f', 'hex');
  it.each([
    ['sha256', 64, 1, 1, 32],
    ['sha256', 64, 3, 2048, 32],
    ['sha256', 64, 1, 5, 40],
    ['sha1', 64, 1, 1000, 24],
    ['sha1', 64, 2, 1000, 8],
    ['sha512', 128, 3, 10, 64],
  ] as const)('%s id %i, %i iterations, %i bytes', (hash, blockSize, id, iterations, length) => {
    for (const passphrase of ['smeg', 'pässwörd', '']) {
      const ours = pkcs12Kdf(passphrase, salt, id, iterations, length, hash, blockSize);
      const md = forge.md[hash].create();
      const theirs = forgePbe.generatePkcs12Key(passphrase, forge.util.createBuffer(salt.toString('binary')), id, iterations, length, md);
      expect(ours.toString('hex')).toBe(Buffer.from(theirs.getBytes(), 'binary').toString('hex'));
    }
  });
});
