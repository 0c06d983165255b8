import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The suite spawns the CLI and openssl a lot; two cores are plenty busy with two files at once.
    maxWorkers: 2,
  },
});
