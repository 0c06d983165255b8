// @ts-check
// How bench/run.js measures a whole process: wall time, peak RSS, CPU seconds, and (for the rows that
// miss their target) CPU per thread and a --cpu-prof summary. No timing decides anything in the test
// suite; these numbers only go into bench/RESULTS.md.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';

/** GNU time, when present: its `%M` is the child's ru_maxrss from wait4 (exact, not sampled). */
export const gnuTime = ['/usr/bin/time', '/bin/time'].find((p) => existsSync(p) && spawnSync(p, ['-f', '%M', 'true']).status === 0);

/**
 * @typedef {object} Command
 * @property {string} file
 * @property {string[]} args
 * @property {Record<string, string>} [env] added to process.env
 * @property {string} [stdout] where stdout goes (default /dev/null)
 */

/**
 * @typedef {object} Sample
 * @property {number} seconds wall time, spawn to exit
 * @property {number} rssMb peak RSS (NaN when unknown)
 * @property {number} cpuSeconds user + system CPU of the process and its threads (NaN when unknown)
 */

/**
 * Runs `command` to completion as a whole process. A non-zero exit rejects with its stderr: a
 * benchmark of a failing command measures nothing.
 *
 * @param {Command} command
 * @param {string} scratch folder for GNU time's output file
 * @returns {Promise<Sample>}
 */
export function measure(command, scratch) {
  return new Promise((resolve, reject) => {
    const timeFile = join(scratch, `time-${process.pid}.txt`);
    const [file, args] = gnuTime ? [gnuTime, ['-f', '%M %U %S', '-o', timeFile, command.file, ...command.args]] : [command.file, command.args];
    const out = openSync(command.stdout ?? '/dev/null', 'w');
    const started = performance.now();
    const child = spawn(file, args, { stdio: ['ignore', out, 'pipe'], env: { ...process.env, ...command.env } });
    let stderr = '';
    child.stderr?.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      closeSync(out);
      if (code !== 0) {
        rmSync(timeFile, { force: true });
        reject(new Error(`${command.file} ${command.args.join(' ')} exited ${code}: ${stderr.trim().slice(-400)}`));
        return;
      }
      let rssMb = Number.NaN;
      let cpuSeconds = Number.NaN;
      if (gnuTime) {
        const [maxKb, user, system] = (readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
        rssMb = (maxKb ?? Number.NaN) / 1024;
        cpuSeconds = (user ?? Number.NaN) + (system ?? Number.NaN);
        rmSync(timeFile, { force: true });
      }
      resolve({ seconds, rssMb, cpuSeconds });
    });
  });
}

/** @param {number[]} values */
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

/**
 * Runs the command once while sampling /proc/<pid>/task/<tid>/stat every 20 ms, and returns CPU
 * seconds per thread (the last sample of each, so up to 20 ms short) grouped by thread name. Also
 * passes `--cpu-prof` so that `summariseProfiles` can tell where the main and worker threads spent
 * their time. Node only (the command's file must be node).
 *
 * @param {Command} command
 * @param {string} profileDir emptied first; one .cpuprofile per JavaScript thread lands here
 * @returns {Promise<{ wall: number, threads: [string, number][] }>}
 */
export function profileRun(command, profileDir) {
  rmSync(profileDir, { recursive: true, force: true });
  mkdirSync(profileDir, { recursive: true });
  return new Promise((resolve, reject) => {
    const out = openSync(command.stdout ?? '/dev/null', 'w');
    const started = performance.now();
    const child = spawn(command.file, ['--cpu-prof', '--cpu-prof-dir', profileDir, ...command.args], {
      stdio: ['ignore', out, 'pipe'],
      env: { ...process.env, ...command.env },
    });
    /** @type {Map<string, { name: string, cpu: number }>} */
    const threads = new Map();
    const ticks = 100; // USER_HZ on Linux
    const sample = () => {
      try {
        for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
          const stat = readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8');
          const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          threads.set(tid, { name: Number(tid) === child.pid ? 'main' : name, cpu: (Number(fields[11]) + Number(fields[12])) / ticks });
        }
      } catch {
        // the process or a thread exited between the listing and the read
      }
    };
    const poll = setInterval(sample, 20);
    let stderr = '';
    child.stderr?.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      closeSync(out);
      if (code !== 0) return reject(new Error(`profiled run exited ${code}: ${stderr.trim().slice(-400)}`));
      /** @type {Map<string, number>} */
      const byName = new Map();
      for (const { name, cpu } of threads.values()) byName.set(name, (byName.get(name) ?? 0) + cpu);
      resolve({ wall: (performance.now() - started) / 1000, threads: [...byName].sort((a, b) => b[1] - a[1]) });
    });
  });
}

/**
 * Self time per function of every .cpuprofile in `profileDir` (one per thread), largest first.
 *
 * @param {string} profileDir
 * @param {number} top entries per thread
 * @returns {{ file: string, totalMs: number, entries: [string, number][] }[]}
 */
export function summariseProfiles(profileDir, top = 8) {
  return readdirSync(profileDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((file) => {
      /** @type {{ nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }[], samples: number[], timeDeltas: number[] }} */
      const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8'));
      const names = new Map(
        profile.nodes.map((n) => {
          const where = n.callFrame.url ? ` (${basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1})` : '';
          return [n.id, `${n.callFrame.functionName || '(anonymous)'}${where}`];
        }),
      );
      /** @type {Map<string, number>} */
      const self = new Map();
      let totalUs = 0;
      profile.samples.forEach((id, i) => {
        const us = profile.timeDeltas[i] ?? 0;
        totalUs += us;
        const name = names.get(id) ?? '?';
        self.set(name, (self.get(name) ?? 0) + us);
      });
      const entries = /** @type {[string, number][]} */ (
        [...self]
          .sort((a, b) => b[1] - a[1])
          .slice(0, top)
          .map(([name, us]) => [name, us / 1000])
      );
      return { file, totalMs: totalUs / 1000, entries };
    });
}
