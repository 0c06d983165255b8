import { defineConfig } from 'vitest/config';

// Most files share their workers' module graph (isolate: false: the src modules are loaded once per
// worker, not once per file — a third of the suite's time was imports). The PKCS#11 files keep a
// fresh module graph each: SoftHSM reads SOFTHSM2_CONF once per loaded module, and each file has its
// own token folder.
const pkcs11 = 'test/pkcs11-*.test.ts';

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/support/each-file.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The suite spawns the CLI and openssl a lot; two cores are plenty busy with two files at once.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: [pkcs11], isolate: false } },
      { extends: true, test: { name: 'pkcs11', include: [pkcs11], isolate: true } },
    ],
  },
});
