import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { archiveObjectKey, parseArchiveText, selectArchive } from '../src/vonage/archive.js';

const item = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  status: 'uploaded',
  password: 'cGFzc3dvcmQ=',
  sha256sum: 'c2hh',
  size: 1234,
  createdAt: 1700000000000,
  outputMode: 'composed',
  url: null,
  ...extra,
});

describe('archive JSON parsing', () => {
  it.each([
    ['a REST archive object', JSON.stringify(item('a1', { projectId: 47000000 })), ['a1'], '47000000'],
    ['a list response', JSON.stringify({ count: 2, items: [item('a1', { partnerId: 42 }), item('a2', { partnerId: 42 })] }), ['a1', 'a2'], '42'],
    ['callback bodies one per line', `${JSON.stringify(item('c1', { partnerId: 7 }))}\n\n${JSON.stringify(item('c2', { partnerId: 7 }))}\n`, ['c1', 'c2'], '7'],
    ['a bare array', JSON.stringify([item('b1', { projectId: '9' })]), ['b1'], '9'],
  ])('reads %s', (_name, text, ids, project) => {
    const archives = parseArchiveText(text, 'archives.json');
    expect(archives.map((a) => a.id)).toEqual(ids);
    expect(archives[0]?.projectId).toBe(project);
    expect(archives[0]?.password).toBe('cGFzc3dvcmQ=');
    expect(archives[0]?.sha256sum).toBe('c2hh');
    expect(archives[0]?.size).toBe(1234);
  });

  it.each([
    ['not JSON', 'hello', /not JSON \(line 1\)/],
    ['an object without id', '{"status":"uploaded"}', /no "id"/],
    ['a list item without id', '{"count":1,"items":[{"size":1}]}', /items\[0\].*no "id"/],
  ])('rejects %s with a usage error', (_name, text, message) => {
    expect(() => parseArchiveText(text, 'x.json')).toThrow(UsageError);
    expect(() => parseArchiveText(text, 'x.json')).toThrow(message);
  });

  it('selects by id, and insists on --archive-id when ambiguous', () => {
    const archives = parseArchiveText(JSON.stringify({ count: 2, items: [item('a1'), item('a2')] }), 'list.json');
    expect(selectArchive(archives, 'a2', 'list.json').id).toBe('a2');
    expect(() => selectArchive(archives, undefined, 'list.json')).toThrow(/holds 2 archives: pick one with --archive-id/);
    expect(() => selectArchive(archives, 'zz', 'list.json')).toThrow(/archive zz is not in list.json/);
  });

  it('knows where Vonage uploads an archive', () => {
    expect(archiveObjectKey('47000000', 'b40ef09b')).toBe('47000000/b40ef09b/archive.mp4');
  });
});
