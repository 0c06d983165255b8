import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Most files share their workers' module graph (isolate: false: the src modules are loaded once per
// worker, not once per file — a third of the suite's time was imports). The PKCS#11 files keep a
// fresh module graph each: SoftHSM reads SOFTHSM2_CONF once per loaded module, and each file has its
// own token folder.
const pkcs11 = 'test/pkcs11-*.test.ts';

// The longest files (npm test's per-file durations, December 2026), started first so that the two
// workers end together. A fresh clone has no timings of earlier runs, and vitest then starts the larger
// files first: storage-listing (the longest by far) started halfway and ran alone at the end.
const longestFirst = [
  'test/storage-listing.test.ts',
  'test/service.test.ts',
  'test/fault-proxy.test.ts',
  'test/keys-generate.test.ts',
  'test/storage-cli.test.ts',
  'test/fault-stdout.test.ts',
  'test/batch.test.ts',
  'test/fault-signals.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = longestFirst.indexOf(relative(file.project.config.root, file.moduleId));
      return index === -1 ? longestFirst.length : index;
    };
    // Within each project, in vitest's own project order (a stable sort keeps vitest's order otherwise).
    const projects = new Map<string, TestSpecification[]>();
    for (const file of await super.sort(files)) projects.set(file.project.name, [...(projects.get(file.project.name) ?? []), file]);
    return [...projects.values()].flatMap((group) => group.sort((a, b) => rank(a) - rank(b)));
  }
}

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/support/each-file.ts'],
    sequence: { sequencer: LongestFirst },
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
