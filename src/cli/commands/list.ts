/**
 * `archive-crypt list <s3://bucket | azure://container>`: the Vonage archives found in storage, at
 * `<apiKey>/<archiveId>/archive.mp4`, as a table or as JSON.
 */
import type { Command } from 'commander';
import type { StoredArchive } from '../../storage/archive-layout.js';
import type { CliContext } from '../context.js';
import { addReportOptions, reportResult, type ReportFlags } from '../output.js';
import { addStorageOptions, formatSize, storageOptionsFrom, type StorageFlags } from '../storage-options.js';

interface ListFlags extends StorageFlags, ReportFlags {
  apiKey?: string;
}

const EXAMPLE = `
Credentials: S3 uses the AWS SDK's standard chain (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
instance roles); Azure reads the connection string from AZURE_STORAGE_CONNECTION_STRING (or the variable
named by --azure-connection-string-env).

Examples:
  $ archive-crypt list s3://my-archives --api-key 46372
  ARCHIVE ID                            API KEY  SIZE     LAST MODIFIED
  b40ef09b-3811-4726-b508-e41a0f96c68f  46372    512 MiB  2026-03-02T10:15:00.000Z

  $ archive-crypt list azure://archives --json

Exit codes: 0 ok, 2 usage, 5 storage (not found, access denied, unreachable).
`;

export function register(program: Command, ctx: CliContext): void {
  addReportOptions(addStorageOptions(
    program
      .command('list')
      .description('list the Vonage archives (<apiKey>/<archiveId>/archive.mp4) in an S3 bucket or Azure container')
      .argument('<store>', 's3://bucket[/prefix] or azure://container[/prefix]')
      .option('--api-key <key>', 'only archives of this Vonage project (API key)'),
    { download: false, listing: true },
  ), false)
    .addHelpText('after', EXAMPLE)
    .action((store: string, flags: ListFlags) => listCommand(ctx, store, flags));
}

async function listCommand(ctx: CliContext, storeSpec: string, flags: ListFlags): Promise<void> {
  if (ctx.report) ctx.report.base = { store: storeSpec };
  const options = storageOptionsFrom(flags, ctx);
  const { openStore } = await import('../../storage/open.js');
  const { listArchives } = await import('../../storage/archive-layout.js');
  const { parseStoreSpec } = await import('../../storage/uri.js');
  const location = parseStoreSpec(storeSpec);
  const root = location.kind === 's3' ? `s3://${location.bucket}/` : `azure://${location.container}/`;
  const store = await openStore(storeSpec, options);
  const archives: StoredArchive[] = [];
  try {
    for await (const archive of listArchives(store, { ...(flags.apiKey !== undefined ? { apiKey: flags.apiKey } : {}), signal: ctx.signal })) {
      archives.push(archive);
    }
  } finally {
    await store.close?.();
  }

  const items = archives.map((archive) => ({
    id: archive.id,
    apiKey: archive.apiKey,
    key: archive.key,
    uri: root + archive.key,
    size: archive.size,
    lastModified: archive.lastModified?.toISOString() ?? null,
  }));
  await reportResult(ctx, { store: store.name, count: items.length, items }, () => {
    if (archives.length === 0) {
      ctx.stderr.write(`no Vonage archives (<apiKey>/<archiveId>/archive.mp4) found in ${store.name}\n`);
      return;
    }
    ctx.stdout.write(
      formatTable(
        ['ARCHIVE ID', 'API KEY', 'SIZE', 'LAST MODIFIED'],
        archives.map((a) => [a.id, a.apiKey, formatSize(a.size), a.lastModified?.toISOString() ?? '-']),
      ),
    );
  });
}

/** Left-aligned columns separated by two spaces. */
function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
