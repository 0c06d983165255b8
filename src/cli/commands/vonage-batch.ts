/**
 * Where `batch` gets its archive list: a file (list response or callback bodies), or `vonage` — every
 * page of the list from the Vonage API. With `--delete-after` it also needs the API client.
 */
import { UsageError } from '../../errors.js';
import type { VonageArchive } from '../../vonage/archive.js';
import type { VonageClient } from '../../vonage/client.js';
import type { VonageSettings } from '../../vonage/credentials.js';
import type { CliContext } from '../context.js';
import { connectVonage } from './vonage.js';

export async function readBatchArchives(
  ctx: CliContext,
  flags: { archives: string; apiUrl?: string; deleteAfter?: boolean; apiKey?: string },
  settings?: VonageSettings,
): Promise<{ archives: VonageArchive[]; vonage?: VonageClient }> {
  const { parseArchiveList, parseArchiveText } = await import('../../vonage/archive.js');
  const vonage = flags.archives === 'vonage' || flags.deleteAfter ? await connectVonage(ctx, flags, settings) : undefined;
  if (flags.archives === 'vonage' && vonage) {
    const list = await vonage.listAllArchives({}, ctx.signal);
    // Items of an application's list may not name their project: it is the one we asked.
    return { archives: parseArchiveList(list).map((archive) => ({ projectId: flags.apiKey ?? vonage.projectId, ...archive })), vonage };
  }
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(flags.archives, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --archives ${flags.archives} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return { archives: parseArchiveText(text, flags.archives), ...(vonage ? { vonage } : {}) };
}
