/**
 * Which configuration file applies (docs/CONFIG.md), kept apart from the loader so that deciding
 * costs nothing at start-up: the schema library loads only when there is a file.
 */

/** The environment variable naming the configuration file when no `--config` is given. */
export const configVariable = 'ARCHIVE_CRYPT_CONFIG';

/** `--config` if given, else `ARCHIVE_CRYPT_CONFIG` if set and not empty, else none. */
export function locateConfig(path: string | undefined, env: NodeJS.ProcessEnv): { file: string; origin: string } | undefined {
  if (path !== undefined) return { file: path, origin: '--config' };
  const named = env[configVariable];
  return named === undefined || named === '' ? undefined : { file: named, origin: configVariable };
}
