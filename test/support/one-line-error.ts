/**
 * The CLI's rule for failures: the documented exit code and exactly one line on stderr, in the form
 * `archive-crypt: what failed, and what to do`, never a stack trace. One check for every test.
 */
import { expect } from 'vitest';

/** Asserts that stderr is one error line (matching `message` when given) and returns that line. */
export function oneErrorLine(stderr: string, message?: RegExp | string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  const line = lines[0] ?? '';
  expect(line).toMatch(/^archive-crypt: /);
  expect(stderr).not.toMatch(/\n\s+at /);
  // Matched against all of stderr (that one line and its newline), as the callers' patterns expect.
  if (typeof message === 'string') expect(stderr).toContain(message);
  else if (message !== undefined) expect(stderr).toMatch(message);
  return line;
}

/** Asserts the exit code and the one error line of a CLI run; returns the line. */
export function expectOneLineError(result: { code: number; stderr: string }, code: number, message?: RegExp | string): string {
  expect(result.code, result.stderr).toBe(code);
  return oneErrorLine(result.stderr, message);
}
