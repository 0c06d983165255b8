/**
 * `decrypt --vonage-archive <id>`: the archive JSON comes from the Vonage API, and an archive held in
 * Vonage's fallback storage is read from its `url`; `--delete-after` then deletes it from Vonage.
 */
import { StorageError, UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { archivePasswordInput, type PasswordInput } from '../archive-password.js';
import { connectVonage } from './vonage.js';

export interface FetchedVonageArchive {
  input: PasswordInput;
  /** Where to read the archive: the given source, else its fallback-storage URL. */
  source: string;
  /** Deletes the archive from Vonage when `--delete-after` asked for it. */
  afterVerified(): Promise<void>;
}

export async function fetchVonageArchive(
  ctx: CliContext,
  opts: { vonageArchive?: string; deleteAfter?: boolean; output?: string; apiUrl?: string },
  source: string | undefined,
): Promise<FetchedVonageArchive> {
  const id = opts.vonageArchive as string;
  if (opts.deleteAfter && (opts.output === undefined || opts.output === '-')) {
    throw new UsageError('--delete-after needs --output FILE: the archive is deleted only once a verified copy is on disk');
  }
  const client = await connectVonage(ctx, opts);
  const { parseArchiveList } = await import('../../vonage/archive.js');
  const [archive] = parseArchiveList(await client.getArchive(id, ctx.signal));
  if (archive === undefined) throw new StorageError(`Vonage sent no archive ${id}`);
  const input = archivePasswordInput(archive, `(Vonage project ${client.projectId})`);
  if (opts.deleteAfter && archive.url === undefined) {
    throw new UsageError(
      `--delete-after deletes only archives held in Vonage's fallback storage; archive ${id} is in your storage, and its record holds the password`,
    );
  }
  if (source === undefined && archive.url === undefined) {
    const { archiveObjectKey } = await import('../../vonage/archive.js');
    throw new UsageError(
      `archive ${id} is in your storage, not Vonage's: give its source, e.g. s3://<bucket>/${archiveObjectKey(archive.projectId ?? client.projectId, id)}`,
    );
  }
  return {
    input,
    source: source ?? (archive.url as string),
    async afterVerified() {
      if (!opts.deleteAfter) return;
      try {
        await client.deleteArchive(id, ctx.signal);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new StorageError(`archive ${id} was decrypted to ${opts.output ?? ''}, but deleting it from Vonage failed: ${message}`, { cause: error });
      }
      ctx.stderr.write(`deleted archive ${id} from Vonage's fallback storage\n`);
    },
  };
}
