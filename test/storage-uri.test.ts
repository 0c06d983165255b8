import { describe, expect, test } from 'vitest';
import { UsageError } from '../src/errors.js';
import { isLoopbackHost, parseSourceSpec, parseStoreSpec, redactUrl } from '../src/storage/uri.js';

describe('parseSourceSpec', () => {
  const good: [string, unknown][] = [
    ['-', { kind: 'stdin' }],
    ['archive.mp4', { kind: 'file', path: 'archive.mp4' }],
    ['/data/46372/archive.mp4', { kind: 'file', path: '/data/46372/archive.mp4' }],
    ['s3://my-bucket/46372/b40e/archive.mp4', { kind: 's3', bucket: 'my-bucket', key: '46372/b40e/archive.mp4' }],
    ['S3://my.bucket.eu/a key with spaces', { kind: 's3', bucket: 'my.bucket.eu', key: 'a key with spaces' }],
    ['azure://archives/46372/b40e/archive.mp4', { kind: 'azure', container: 'archives', blob: '46372/b40e/archive.mp4' }],
  ];
  test.each(good)('%s', (spec, expected) => {
    expect(parseSourceSpec(spec)).toEqual(expected);
  });

  test('an Azure blob URL with SAS is an azure-url, its query kept for the request only', () => {
    const location = parseSourceSpec('https://acct01.blob.core.windows.net/archives/46372/a%20b/archive.mp4?sv=2024&sig=SECRET');
    expect(location).toMatchObject({ kind: 'azure-url', container: 'archives', blob: '46372/a b/archive.mp4' });
    if (location.kind !== 'azure-url') throw new Error('unreachable');
    expect(redactUrl(location.url)).toBe('https://acct01.blob.core.windows.net/archives/46372/a%20b/archive.mp4');
  });

  test('an azurite loopback URL is an azure-url (account is the first path segment)', () => {
    expect(parseSourceSpec('http://127.0.0.1:10000/devstoreaccount1/ctr/k/archive.mp4?sig=x')).toMatchObject({
      kind: 'azure-url',
      container: 'ctr',
      blob: 'k/archive.mp4',
    });
  });

  test.each([
    'https://bucket.s3.eu-west-1.amazonaws.com/46372/x/archive.mp4?X-Amz-Signature=abc',
    'https://example.com/archive.mp4',
    'http://localhost:8080/archive.mp4',
    'http://[::1]:8080/archive.mp4',
  ])('%s is a generic https source', (spec) => {
    expect(parseSourceSpec(spec).kind).toBe('https');
  });

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['s3://my-bucket', /names no object/],
    ['s3://my-bucket/', /names no object/],
    ['s3://ab/key', /not a valid bucket name/],
    ['s3://My_Bucket/key', /not a valid bucket name/],
    ['azure://archives', /names no blob/],
    ['azure://Bad--name/x', /not a valid container name/],
    ['gs://bucket/key', /unsupported source gs:\/\//],
    ['http://example.com/archive.mp4', /only allowed for loopback/],
    ['https://user:pw@example.com/a', /credentials in the URL/],
    ['https://acct01.blob.core.windows.net/archives?sig=SECRET', /names no blob/],
    ['https://exa mple.com/?sig=SECRET', /not a valid URL/],
  ];
  test.each(bad)('%j is a usage error (%s) that never echoes a query string', (spec, message) => {
    let caught: unknown;
    try {
      parseSourceSpec(spec);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain('SECRET');
  });
});

describe('parseStoreSpec', () => {
  test.each([
    ['s3://archives', { kind: 's3', bucket: 'archives', prefix: '' }],
    ['s3://archives/', { kind: 's3', bucket: 'archives', prefix: '' }],
    ['s3://archives/vonage/', { kind: 's3', bucket: 'archives', prefix: 'vonage/' }],
    ['azure://archives/46372/', { kind: 'azure', container: 'archives', prefix: '46372/' }],
  ])('%s', (spec, expected) => {
    expect(parseStoreSpec(spec)).toEqual(expected);
  });

  test.each(['archives', 'https://example.com/x', '-', 's3://x'])('%s is a usage error', (spec) => {
    expect(() => parseStoreSpec(spec)).toThrow(UsageError);
  });
});

test.each([
  ['localhost', true],
  ['127.0.0.1', true],
  ['127.10.0.3', true],
  ['[::1]', true],
  ['10.0.0.1', false],
  ['127.0.0.1.example.com', false],
  ['example.com', false],
])('isLoopbackHost(%s) = %s', (host, expected) => {
  expect(isLoopbackHost(host)).toBe(expected);
});
