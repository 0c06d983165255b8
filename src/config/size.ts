/** Byte sizes as people write them: `8388608`, `8M`, `8MiB`, `512k`, `1GB` (binary multiples, as storage part sizes are). */
const units: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** The number of bytes `text` names, or undefined when it is not a size. */
export function byteSizeValue(text: string): number | undefined {
  const match = /^(\d+)\s*(?:([kmg])(?:i?b)?)?$/i.exec(text.trim());
  const value = match ? Number(match[1]) * (units[(match[2] ?? '').toLowerCase()] ?? NaN) : NaN;
  return Number.isSafeInteger(value) ? value : undefined;
}
