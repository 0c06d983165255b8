/**
 * Vonage archive JSON, as returned by `GET /v2/project/<apiKey>/archive[/<id>]` (an object, or a list
 * `{"count":N,"items":[…]}`) and posted to the archive callback (`status: "uploaded"`).
 */
import { UsageError } from '../errors.js';

export interface VonageArchive {
  id: string;
  /** base64 RSA-OAEP wrapped key blob; absent for unencrypted archives. */
  password?: string;
  /** base64 SHA-256 (what it covers is undocumented: compared with ciphertext and plaintext). */
  sha256sum?: string;
  size?: number;
  status?: string;
  /** The API key (`projectId` in newer payloads, `partnerId` in older ones, `applicationId` for applications). */
  projectId?: string;
  createdAt?: number;
  outputMode?: string;
  name?: string;
  /** Set only while Vonage holds the file in its fallback storage (72 h): where to download it. */
  url?: string;
}

/** Parses a Vonage archive object, callback body or list response into archives. */
export function parseArchiveList(json: unknown): VonageArchive[] {
  if (Array.isArray(json)) return json.map((item, i) => toArchive(item, `item ${i}`));
  if (isRecord(json) && Array.isArray(json.items)) return json.items.map((item, i) => toArchive(item, `items[${i}]`));
  return [toArchive(json, 'archive JSON')];
}

/** Parses JSON text (one document, or callback bodies one per line) into archives. */
export function parseArchiveText(text: string, label: string): VonageArchive[] {
  try {
    return parseArchiveList(JSON.parse(text));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  return lines.map((line, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new UsageError(`${label} is not JSON (line ${i + 1}): give a Vonage archive object, a list response or callback bodies one per line`);
    }
    return toArchive(parsed, `${label} line ${i + 1}`);
  });
}

/**
 * Picks the archive to decrypt: the only one, or the one with `id`.
 * @throws UsageError when ambiguous or absent.
 */
export function selectArchive(archives: VonageArchive[], id: string | undefined, label: string): VonageArchive {
  if (id !== undefined) {
    const found = archives.find((archive) => archive.id === id);
    if (!found) throw new UsageError(`archive ${id} is not in ${label}`);
    return found;
  }
  if (archives.length !== 1 || !archives[0]) {
    throw new UsageError(`${label} holds ${archives.length} archives: pick one with --archive-id`);
  }
  return archives[0];
}

function toArchive(value: unknown, where: string): VonageArchive {
  if (!isRecord(value) || typeof value.id !== 'string' || value.id === '') {
    throw new UsageError(`${where}: not a Vonage archive (no "id")`);
  }
  const archive: VonageArchive = { id: value.id };
  if (typeof value.password === 'string' && value.password !== '') archive.password = value.password;
  if (typeof value.sha256sum === 'string' && value.sha256sum !== '') archive.sha256sum = value.sha256sum;
  if (typeof value.size === 'number') archive.size = value.size;
  if (typeof value.status === 'string') archive.status = value.status;
  const project = value.projectId ?? value.partnerId ?? value.applicationId;
  if (typeof project === 'string' || typeof project === 'number') archive.projectId = String(project);
  if (typeof value.createdAt === 'number') archive.createdAt = value.createdAt;
  if (typeof value.outputMode === 'string') archive.outputMode = value.outputMode;
  if (typeof value.name === 'string') archive.name = value.name;
  if (typeof value.url === 'string' && value.url !== '') archive.url = value.url;
  return archive;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where Vonage uploads an archive in the customer's bucket or container. */
export function archiveObjectKey(apiKey: string, archiveId: string): string {
  return `${apiKey}/${archiveId}/archive.mp4`;
}
