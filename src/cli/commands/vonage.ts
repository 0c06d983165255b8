/**
 * `archive-crypt vonage …`: the Vonage Video REST API — list archives with their passwords, fetch one,
 * delete a fallback copy, register the upload target and certificate (vonage-storage.ts).
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { ArchiveJson, VonageClient } from '../../vonage/client.js';
import type { VonageSettings } from '../../vonage/credentials.js';
import type { CliContext } from '../context.js';
import { formatSize, parseCount } from '../storage-options.js';
import { register as registerStorage } from './vonage-storage.js';

export interface VonageApiFlags {
  apiUrl?: string;
}

const CREDENTIALS = `
Credentials (never on the command line, never printed):
  legacy OpenTok project   VONAGE_API_KEY and VONAGE_API_SECRET        → https://api.opentok.com
  Vonage application       VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY → https://video.api.vonage.com
                           (VONAGE_PRIVATE_KEY is the path of the application's private key, mode 0600)
The application form wins when both are set. --api-url or VONAGE_VIDEO_API_URL replaces the base URL
(a proxy, a test stub; plain http only on loopback). Every request carries a fresh JWT that expires
after 3 minutes (tokbox.com/developer/rest/#authentication). 429 and 5xx answers are retried, waiting
at least what Retry-After asks.

Exit codes: 0 ok, 2 usage, 3 key file unusable, 5 Vonage refused the credentials (401/403), has no
such archive (404), or cannot be reached.
`;

const ARCHIVES_EXAMPLE = `
Prints id, status, size, creation time, output mode and whether the archive is encrypted (never the
password). --output FILE writes the list response {"count","items":[…]} (mode 0600, never overwritten),
passwords included, in the form \`batch --archives\` and \`decrypt --archive-json … --archive-id\` read.

Examples:
  $ export VONAGE_API_KEY=46372 VONAGE_API_SECRET=…
  $ archive-crypt vonage archives --status uploaded
  ARCHIVE ID                            STATUS    SIZE    CREATED                   MODE      ENCRYPTED
  b40ef09b-3811-4726-b508-e41a0f96c68f  uploaded  66 KiB  2026-01-01T00:00:00.000Z  composed  yes
  1 of 1 archives

  $ archive-crypt vonage archives --all --output archives.json
${CREDENTIALS}`;

const ARCHIVE_EXAMPLE = `
Prints the archive's fields (never its password); --output FILE writes the archive JSON (mode 0600,
never overwritten) that \`decrypt --archive-json\` reads.

An archive whose upload failed sits in Vonage's fallback storage for 72 hours with a "url": read it with
\`decrypt --vonage-archive <id> --output FILE --delete-after\`, which deletes it from Vonage once it
verified, rather than leave it there for the rest of those hours.

Examples:
  $ archive-crypt vonage archive b40ef09b-3811-4726-b508-e41a0f96c68f --output archive.json
  $ archive-crypt vonage archive delete b40ef09b-3811-4726-b508-e41a0f96c68f --yes
${CREDENTIALS}`;

export function register(program: Command, ctx: CliContext): void {
  const vonage = program.command('vonage').description('talk to the Vonage Video API: archives, passwords, the upload target and certificate');

  addApiUrl(
    vonage
      .command('archives')
      .description('list the project\'s archives (id, status, size, encrypted or not)')
      .option('--session-id <id>', 'only archives of this session')
      .option('--all', 'follow every page (1000 archives a page)')
      .option('--offset <n>', 'start at this archive (default: 0)')
      .option('--count <n>', 'archives in this page, 1 to 1000 (default: 50)')
      .option('--status <status>', 'only archives with this status (e.g. uploaded, available, failed)')
      .option('--json', 'print {"count","items"} as JSON on stdout (without passwords)')
      .option('-o, --output <file>', 'write the list response with passwords to FILE (mode 0600)'),
  )
    .addHelpText('after', ARCHIVES_EXAMPLE)
    .action((flags: ArchivesFlags) => archivesCommand(ctx, flags));

  const archive = addApiUrl(
    vonage
      .command('archive')
      .description('show one archive, or write its JSON for decrypt --archive-json; "archive delete <id>" deletes it')
      .argument('<archive-id>', 'the archive id')
      .option('--json', 'print the archive as JSON on stdout (without its password)')
      .option('-o, --output <file>', 'write the archive JSON with its password to FILE (mode 0600)'),
  )
    .addHelpText('after', ARCHIVE_EXAMPLE)
    .action((archiveId: string, flags: ArchiveFlags) => archiveCommand(ctx, archiveId, flags));
  addApiUrl(
    archive
      .command('delete')
      .description('delete an archive from Vonage (its record, password and any copy Vonage holds)')
      .argument('<archive-id>', 'the archive id')
      .option('--yes', 'do not ask for confirmation'),
  )
    .addHelpText('after', CREDENTIALS)
    .action((archiveId: string, flags: DeleteFlags) => deleteCommand(ctx, archiveId, flags));

  registerStorage(vonage, ctx);
}

/** The `--api-url` flag every vonage command has. */
export function addApiUrl(command: Command): Command {
  return command.option('--api-url <url>', 'Vonage Video API base URL, else $VONAGE_VIDEO_API_URL (default: the one the credentials call for)');
}

/**
 * A client from the environment's credentials, else the config file's `vonage` section (see
 * docs/CONFIG.md); `--api-url` wins over both.
 */
export async function connectVonage(ctx: CliContext, flags: VonageApiFlags, settings?: VonageSettings): Promise<VonageClient> {
  const { resolveVonageCredentials } = await import('../../vonage/credentials.js');
  const { VonageClient } = await import('../../vonage/client.js');
  const resolved = await resolveVonageCredentials(ctx.env, settings ?? ctx.config.vonage);
  const apiUrl = flags.apiUrl ?? resolved.apiUrl;
  return new VonageClient({ credentials: resolved.credentials, credentialHint: resolved.hint, ...(apiUrl !== undefined ? { apiUrl } : {}) });
}

interface ArchivesFlags extends VonageApiFlags {
  sessionId?: string;
  all?: boolean;
  offset?: string;
  count?: string;
  status?: string;
  json?: boolean;
  output?: string;
}

async function archivesCommand(ctx: CliContext, flags: ArchivesFlags): Promise<void> {
  if (flags.all && (flags.offset !== undefined || flags.count !== undefined)) throw new UsageError('give either --all or --offset/--count');
  const offset = flags.offset === undefined ? 0 : parseCount(flags.offset, '--offset', 0, Number.MAX_SAFE_INTEGER);
  const pageSize = flags.count === undefined ? 50 : parseCount(flags.count, '--count', 1, 1000);
  const output = flags.output === undefined ? undefined : await claimOutput(flags.output);
  try {
    const client = await connectVonage(ctx, flags);
    const query = flags.sessionId !== undefined ? { sessionId: flags.sessionId } : {};
    const list = flags.all ? await client.listAllArchives(query, ctx.signal) : await client.listArchives({ ...query, offset, count: pageSize }, ctx.signal);
    const items = flags.status === undefined ? list.items : list.items.filter((item) => item.status === flags.status);
    // Filtered, the list holds what it says: count is the number of items given.
    const count = flags.status === undefined ? list.count : items.length;
    if (output) await writeJson(output, { count, items });
    if (flags.json) ctx.stdout.write(`${JSON.stringify({ count, items: items.map(summaryOf) }, null, 2)}\n`);
    else ctx.stdout.write(formatTable(items, list.count, output?.name));
  } catch (error) {
    await output?.abort();
    throw error;
  }
}

interface ArchiveFlags extends VonageApiFlags {
  json?: boolean;
  output?: string;
}

async function archiveCommand(ctx: CliContext, archiveId: string, flags: ArchiveFlags): Promise<void> {
  const output = flags.output === undefined ? undefined : await claimOutput(flags.output);
  try {
    const client = await connectVonage(ctx, flags);
    const archive = await client.getArchive(archiveId, ctx.signal);
    if (output) await writeJson(output, archive);
    const summary = summaryOf(archive);
    if (flags.json) ctx.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      const lines = Object.entries(summary).map(([name, value]) => `  ${name.padEnd(10)} ${String(value)}`);
      ctx.stdout.write(`archive ${archive.id}\n${lines.slice(1).join('\n')}\n${output ? `written to ${output.name} (mode 0600)\n` : ''}`);
    }
  } catch (error) {
    await output?.abort();
    throw error;
  }
}

interface DeleteFlags extends VonageApiFlags {
  yes?: boolean;
}

async function deleteCommand(ctx: CliContext, archiveId: string, flags: DeleteFlags): Promise<void> {
  const client = await connectVonage(ctx, flags);
  if (!flags.yes) {
    await confirm(ctx, `Delete archive ${archiveId} from Vonage (its password goes with it)? [y/N] `, '--yes');
  }
  await client.deleteArchive(archiveId, ctx.signal);
  ctx.stderr.write(`deleted archive ${archiveId} from Vonage\n`);
}

/**
 * Asks on the terminal; without one, the caller must have said `--yes` (a script never deletes by
 * accident because stdin happened to hold a "y").
 */
export async function confirm(ctx: CliContext, question: string, flag: string): Promise<void> {
  if (!ctx.stdin.isTTY || !ctx.stderr.isTTY) throw new UsageError(`this needs confirmation: run it on a terminal, or give ${flag}`);
  const { createInterface } = await import('node:readline/promises');
  const reader = createInterface({ input: ctx.stdin, output: ctx.stderr });
  try {
    const answer = await reader.question(question);
    if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('not confirmed: nothing was changed');
  } finally {
    reader.close();
  }
}

interface ArchiveSummary {
  id: string;
  status: string | null;
  size: number | null;
  createdAt: string | null;
  outputMode: string | null;
  encrypted: boolean;
  sessionId: string | null;
  /** Only for archives held in Vonage's fallback storage. */
  url: string | null;
}

/** What is shown of an archive: never its password (nor the fallback URL, which grants access). */
function summaryOf(archive: ArchiveJson): ArchiveSummary {
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return {
    id: archive.id,
    status: text(archive.status),
    size: typeof archive.size === 'number' ? archive.size : null,
    createdAt: typeof archive.createdAt === 'number' ? new Date(archive.createdAt).toISOString() : null,
    outputMode: text(archive.outputMode),
    encrypted: typeof archive.password === 'string' && archive.password !== '',
    sessionId: text(archive.sessionId),
    url: typeof archive.url === 'string' ? 'set (Vonage fallback storage)' : null,
  };
}

function formatTable(items: ArchiveJson[], total: number, writtenTo: string | undefined): string {
  const rows = [['ARCHIVE ID', 'STATUS', 'SIZE', 'CREATED', 'MODE', 'ENCRYPTED']];
  for (const item of items) {
    const summary = summaryOf(item);
    rows.push([
      item.id,
      summary.status ?? '-',
      summary.size === null ? '-' : formatSize(summary.size),
      summary.createdAt ?? '-',
      summary.outputMode ?? '-',
      summary.encrypted ? 'yes' : 'no',
    ]);
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
  return `${lines.join('\n')}\n${items.length} of ${total} archives${writtenTo ? `; list written to ${writtenTo} (mode 0600)` : ''}\n`;
}

/** Claims the output file first: a refused output costs no request. Mode 0600: it holds passwords. */
async function claimOutput(path: string) {
  const { openFileSink } = await import('../../engine/output.js');
  return openFileSink(path, { mode: 0o600 });
}

async function writeJson(sink: Awaited<ReturnType<typeof claimOutput>>, json: unknown): Promise<void> {
  await sink.write(Buffer.from(`${JSON.stringify(json, null, 2)}\n`));
  await sink.commit();
}
