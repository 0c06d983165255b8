/**
 * Code comments cite documents inside the repository. Every `docs/ARCHITECTURE.md §N` citation must name
 * a section that exists, and nothing may point at the design notes that live outside the repository.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const tracked = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
  .split('\0')
  .filter((path) => path !== '' && !path.startsWith('test/fixtures/') && !path.startsWith('test/vectors/'))
  .filter((path) => /\.(ts|js|cjs|mjs|md|sh|json|c|gyp)$/.test(path) && path !== 'package-lock.json');

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // listed by git but deleted in the work tree
  }
}

describe('citations of the architecture document', () => {
  const sections = new Set([...read('docs/ARCHITECTURE.md').matchAll(/^#+ (§\d+(?:\.\d+)?) /gm)].map((m) => m[1]));

  it('docs/ARCHITECTURE.md has numbered sections', () => {
    expect(sections.has('§5')).toBe(true);
    expect(sections.has('§2.5')).toBe(true);
  });

  it('every cited section exists', () => {
    const missing: string[] = [];
    for (const path of tracked) {
      for (const match of read(path).matchAll(/ARCHITECTURE\.md((?:[ ,]*(?:and )?§\d+(?:\.\d+)?(?:[–-]§\d+(?:\.\d+)?)?)+)/g)) {
        for (const section of (match[1] ?? '').match(/§\d+(?:\.\d+)?/g) ?? []) {
          if (!sections.has(section)) missing.push(`${path}: ${section}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('no file refers to design notes outside the repository', () => {
    const name = ['design', 'md'].join('.');
    const offenders = tracked.filter((path) => read(path).includes(name));
    expect(offenders).toEqual([]);
  });
});
