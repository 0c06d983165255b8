// npm's install script: builds the optional native core (native/, docs/ENGINE.md) with the node-gyp
// that npm itself ships, against the Node headers npm is configured for (they include OpenSSL's).
// Everything runs on node:crypto without it, so a failed build never fails `npm ci`: one line says
// why, and the full build log stays in native/build/build.log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = fileURLToPath(new URL('../native/', import.meta.url));

/** npm sets npm_config_node_gyp for its scripts; otherwise use the copy beside npm's own install. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((candidate) => candidate && existsSync(candidate));
}

function skip(reason) {
  console.log(`archive-crypt: native core not built (${reason}); every command runs on node:crypto`);
}

if (process.env.ARCHIVE_CRYPT_NATIVE === '0') {
  skip('ARCHIVE_CRYPT_NATIVE=0');
} else {
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) {
    skip("npm's node-gyp not found");
  } else {
    // Outside npm (no npm_config_nodedir), the headers installed beside this node binary, if any.
    const prefix = join(dirname(process.execPath), '..');
    const nodedir = !process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
    const build = spawnSync(process.execPath, [nodeGyp, 'rebuild', ...nodedir], { cwd: nativeDir, encoding: 'utf8' });
    const log = `${build.stdout ?? ''}${build.stderr ?? ''}${build.error ? String(build.error) : ''}`;
    mkdirSync(join(nativeDir, 'build'), { recursive: true });
    writeFileSync(join(nativeDir, 'build', 'build.log'), log);
    if (build.status !== 0) {
      const firstError = log.split('\n').find((line) => /(ERR!|error:)/.test(line) && !/ERR! stack/.test(line))?.trim() ?? `node-gyp exited with ${build.status}`;
      skip(`${firstError.slice(0, 160)}; see native/build/build.log`);
    }
  }
}
