#!/usr/bin/env node
/**
 * Writes test/vectors/sealed.json: sealed-format test vectors (docs/FORMAT.md), valid files and every
 * threat of docs/FORMAT.md §9, in the spirit of Wycheproof's chunked-encryption vectors.
 *
 *   npm run build && node scripts/make-sealed-vectors.js
 *
 * File keys and salts are fixed (derived from the vector name) so a reader can check the body without
 * RSA; the RSA test keys are generated afresh and stored in the JSON, and RSA-OAEP is randomized, so
 * each run writes different (equally valid) bytes. The committed file is the reference.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sealBuffer } from '../dist/format/sealed-stream.js';
import { parseHeader, TAG_LENGTH } from '../dist/format/sealed.js';
import { keyIdOf, wrapFileKey } from '../dist/keys/recipients.js';

const out = fileURLToPath(new URL('../test/vectors/sealed.json', import.meta.url));

/** The plaintext of every vector: byte i is i mod 251 (a prime, so no two segments are alike). */
function plaintextOf(size) {
  const p = Buffer.alloc(size);
  for (let i = 0; i < size; i++) p[i] = i % 251;
  return p;
}
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const fixed = (label, name) => createHash('sha256').update(`archive-crypt test vector ${label}: ${name}`).digest();

const keyNames = ['alice', 'bob', 'carol'];
const keys = Object.fromEntries(
  keyNames.map((name) => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    return [name, { privateKeyPem: pem, keyId: keyIdOf(createPublicKey(privateKey)).toString('hex') }];
  }),
);
const publicKey = (name) => createPublicKey(createPrivateKey(keys[name].privateKeyPem));

/** Seals `size` bytes of the pattern; returns the pieces the failure vectors are cut from. */
function seal(name, { size, log2 = 12, to = ['alice'], context = '', fileKeyName = name, saltName = name }) {
  const fileKey = fixed('file key', fileKeyName);
  const salt = fixed('salt', saltName);
  const recipients = to.map((r) => wrapFileKey(fileKey, publicKey(r)));
  const plaintext = plaintextOf(size);
  const sealed = sealBuffer(plaintext, {
    fileKey,
    salt,
    log2SegmentSize: log2,
    context: Buffer.from(context, 'utf8'),
    recipients,
  });
  const parsed = parseHeader(sealed);
  if (!parsed.complete) throw new Error('header did not parse');
  const header = parsed.header.bytes;
  const full = 2 ** log2 + TAG_LENGTH;
  const segments = [];
  for (let offset = header.length; offset < sealed.length; offset += full) segments.push(sealed.subarray(offset, offset + full));
  return { fileKey, salt, log2, to, context, size, sealed, header, segments, parsed: parsed.header };
}

const vectors = [];
function valid(name, comment, file, openWith = file.to.slice(0, 1)) {
  vectors.push({
    name,
    comment,
    log2SegmentSize: file.log2,
    recipients: file.to,
    openWith,
    fileKey: file.fileKey.toString('hex'),
    salt: file.salt.toString('hex'),
    context: file.context,
    sealed: file.sealed.toString('base64'),
    result: 'ok',
    plaintextSize: file.size,
    plaintextSha256: sha256(plaintextOf(file.size)),
  });
}
/** `bytes` is the tampered file; `error` the class name and `message` a substring of the message. */
function invalid(name, comment, file, bytes, error, message, { openWith = ['alice'], fileKeyApplies = true } = {}) {
  vectors.push({
    name,
    comment,
    log2SegmentSize: file.log2,
    recipients: file.to,
    openWith,
    // The original file's key: opening with it directly must fail the same way (unless the damage is
    // in the recipient stanzas, which a fixed file key skips).
    fileKey: fileKeyApplies ? file.fileKey.toString('hex') : null,
    salt: file.salt.toString('hex'),
    context: file.context,
    sealed: Buffer.from(bytes).toString('base64'),
    result: error === 'KeyError' ? 'key' : 'integrity',
    error,
    message,
    plaintextSize: file.size,
    plaintextSha256: sha256(plaintextOf(file.size)),
  });
}
const flip = (bytes, offset, bit = 0) => {
  const copy = Buffer.from(bytes);
  copy[offset] ^= 1 << bit;
  return copy;
};
const cat = (...parts) => Buffer.concat(parts);

// Valid files: the sizes around the segment boundary, many segments, several recipients, the bounds
// of the segment size.
const S = 4096;
valid('empty plaintext', 'one final segment holding only its tag', seal('empty', { size: 0 }));
valid('one byte', 'a single short final segment', seal('one byte', { size: 1 }));
valid('segment - 1', 'the largest file with a single segment', seal('seg-1', { size: S - 1 }));
valid('segment', 'a full segment, then an empty final segment', seal('seg', { size: S }));
valid('segment + 1', 'a full segment, then a one-byte final segment', seal('seg+1', { size: S + 1 }));
valid('two segments exactly', 'two full segments and an empty final one', seal('2seg', { size: 2 * S }));
valid('many segments', 'five full segments and a short final one', seal('many', { size: 5 * S + 123 }));
valid(
  'context',
  'authenticated metadata in the header',
  seal('context', { size: 100, context: '{"name":"archive.mp4","archiveId":"b40ef09b-3811-4726-b508-e41a0f96c68f"}' }),
);
valid('two recipients, second key', 'found by key id in the second stanza', seal('two', { size: 300, to: ['bob', 'alice'] }), ['alice']);
valid('two recipients, first key', 'found by key id in the first stanza', seal('two-first', { size: 300, to: ['bob', 'alice'] }), ['bob']);
valid('several private keys', 'the reader holds a key that does not match as well', seal('keys', { size: 10, to: ['alice'] }), ['carol', 'alice']);
valid('smallest segment size', 'segments of 2^10 bytes', seal('log2 10', { size: 3000, log2: 10 }));
valid('default segment size', 'segments of 2^16 bytes', seal('log2 16', { size: 1000, log2: 16 }));

// Failures, cut from a four-segment file (three full segments and a short final one) and from a file
// whose plaintext is an exact multiple of the segment size (its final segment is empty).
// Segments of 2^10 bytes keep the JSON small.
const F = 1024;
const base = seal('base', { size: 3 * F + 300, log2: 10 });
const [s0, s1, s2, s3] = base.segments;
const exact = seal('exact', { size: 2 * F, log2: 10 });
const H = base.header;
const I = 'IntegrityError';

invalid('truncated: final segment dropped', 'EOF at a segment boundary', base, cat(H, s0, s1, s2), I, 'final segment missing');
invalid('truncated: two segments dropped', 'EOF at an earlier segment boundary', base, cat(H, s0, s1), I, 'final segment missing');
invalid('truncated: empty final segment dropped', 'plaintext a multiple of the segment size', exact, exact.sealed.subarray(0, exact.sealed.length - TAG_LENGTH), I, 'final segment missing');
invalid('truncated: inside a segment', 'EOF in the middle of segment 1', base, cat(H, s0, s1.subarray(0, 500)), I, 'invalid segment tag in final segment 1');
invalid('truncated: inside the final segment', 'last byte missing', base, base.sealed.subarray(0, base.sealed.length - 1), I, 'invalid segment tag in final segment 3');
invalid('truncated: inside the tag', 'half the final tag missing', base, base.sealed.subarray(0, base.sealed.length - 16), I, 'final segment 3');
invalid('truncated: header only', 'no segments at all', base, H, I, 'final segment missing');
invalid('truncated: inside the header', 'EOF inside the recipient stanza', base, H.subarray(0, 100), I, 'header incomplete');
invalid('truncated: nothing', 'an empty file', base, Buffer.alloc(0), I, 'header incomplete');
invalid('trailing data: one byte', 'a byte after the final segment', base, cat(base.sealed, Buffer.of(0)), I, 'final segment 3');
invalid('trailing data: a segment', 'the final segment repeated', base, cat(base.sealed, s3), I, 'invalid segment tag in final segment 3');
invalid('trailing data: after an empty final segment', 'a byte after the empty final segment', exact, cat(exact.sealed, Buffer.of(0x47)), I, 'final segment 2');
invalid('trailing data: a whole segment length', `${F + TAG_LENGTH} bytes after the final segment`, base, cat(base.sealed, Buffer.alloc(F + TAG_LENGTH)), I, 'invalid segment tag in segment 3');
invalid('reordered segments', 'segments 0 and 1 swapped', base, cat(H, s1, s0, s2, s3), I, 'invalid segment tag in segment 0');
invalid('reordered: final segment moved', 'the final segment placed first', base, cat(H, s3, s0, s1, s2), I, 'segment 0');
invalid('duplicated segment', 'segment 0 twice', base, cat(H, s0, s0, s1, s2, s3), I, 'invalid segment tag in segment 1');
invalid('dropped segment', 'segment 1 missing', base, cat(H, s0, s2, s3), I, 'invalid segment tag in segment 1');

const flips = [
  ['magic', 0, 'bad magic'],
  ['version', 8, 'unsupported sealed format version'],
  ['cipher suite', 9, 'unsupported sealed cipher suite'],
  ['segment size exponent', 10, 'invalid header tag'],
  ['reserved byte', 11, 'reserved byte'],
  ['salt', 20, 'invalid header tag'],
  ['context length', 45, 'invalid sealed header'],
  ['recipient count', 47, '0 recipients'],
  ['recipient type', 48, 'unknown recipient type'],
  ['recipient key id', 49, 'invalid header tag'],
  ['wrapped key', 100, 'invalid wrapped file key'],
  ['header tag', H.length - 1, 'invalid header tag'],
];
for (const [what, offset, message] of flips) {
  // With the file key given directly, a damaged wrapped key goes unnoticed until the header tag.
  invalid(`flipped bit: ${what}`, `bit 0 of header byte ${offset}`, base, flip(base.sealed, offset), I, message, {
    fileKeyApplies: what !== 'wrapped key',
  });
}
invalid('flipped bit: ciphertext', 'bit 3 of segment 1 byte 77', base, cat(H, s0, flip(s1, 77, 3), s2, s3), I, 'invalid segment tag in segment 1');
invalid('flipped bit: segment tag', 'last bit of the tag of segment 2', base, cat(H, s0, s1, flip(s2, s2.length - 1, 7), s3), I, 'invalid segment tag in segment 2');
invalid('flipped bit: final segment', 'first byte of the final segment', base, cat(H, s0, s1, s2, flip(s3, 0)), I, 'final segment 3');
invalid('flipped bit: empty final segment tag', 'the tag-only final segment', exact, flip(exact.sealed, exact.sealed.length - 1), I, 'final segment 2');

const other = seal('other', { size: 3 * F + 300, log2: 10 });
invalid('header moved onto another body', "base's header, another file's segments (other key and salt)", base, cat(H, ...other.segments), I, 'invalid segment tag in segment 0');
invalid('segment from another file', "segment 1 of another file spliced in", base, cat(H, s0, other.segments[1], s2, s3), I, 'invalid segment tag in segment 1');
// Same file key and salt (a broken writer reusing them), only the context differs: the segment tags
// cover the header tag, so the body is still bound to its own header.
const sameKeys = seal('same keys', { size: 3 * F + 300, log2: 10, fileKeyName: 'base', saltName: 'base', context: 'x' });
invalid('header moved: same key and salt', "a header differing only in its context, on base's body", base, cat(sameKeys.header, s0, s1, s2, s3), I, 'invalid segment tag in segment 0');

const forBob = seal('for bob', { size: 100, to: ['bob'] });
invalid('wrong recipient', 'sealed for bob, opened with alice', forBob, forBob.sealed, 'KeyError', 'no key matches', { openWith: ['alice'], fileKeyApplies: false });
const forBobCarol = seal('for bob and carol', { size: 100, to: ['bob', 'carol'] });
invalid('wrong recipient: two stanzas', 'sealed for bob and carol, opened with alice', forBobCarol, forBobCarol.sealed, 'KeyError', `${keys.bob.keyId}, ${keys.carol.keyId}`, { openWith: ['alice'], fileKeyApplies: false });

const document = {
  description: 'archive-crypt sealed format test vectors; see docs/FORMAT.md "Test vectors" for the fields',
  plaintext: 'byte i of every plaintext is i mod 251',
  keys,
  vectors,
};
writeFileSync(out, JSON.stringify(document, null, 2) + '\n');
console.log(`wrote ${vectors.length} vectors to ${out}`);
