import type { Command } from 'commander';
import type { CliContext } from '../context.js';

type Register = (program: Command, ctx: CliContext) => void;

/**
 * Every command, by name, and the module that registers its flags. Only the command being run is
 * loaded (a start-up of `archive-crypt decrypt …` reads no other command's module); the program's
 * own help, an unknown name or no name at all loads them all.
 */
const commandModules: Record<string, () => Promise<{ register: Register }>> = {
  batch: () => import('./batch.js'),
  decrypt: () => import('./decrypt.js'),
  encrypt: () => import('./encrypt.js'),
  enqueue: () => import('./enqueue.js'),
  keys: () => import('./keys.js'),
  list: () => import('./list.js'),
  queue: () => import('./queue.js'),
  reseal: () => import('./reseal.js'),
  seal: () => import('./seal.js'),
  serve: () => import('./serve.js'),
  unseal: () => import('./unseal.js'),
  vonage: () => import('./vonage.js'),
  worker: () => import('./worker.js'),
};

/** Registers `name`'s command if it is one, else every command; the work each does loads lazily inside its action. */
export async function registerCommands(program: Command, ctx: CliContext, name: string | undefined): Promise<void> {
  const only = name === undefined ? undefined : commandModules[name];
  const modules = only ? [only] : Object.values(commandModules);
  for (const load of await Promise.all(modules.map((module) => module()))) load.register(program, ctx);
}

/** The command name of a command line: the first word that is not a global option or its value. */
export function commandNameOf(args: readonly string[]): string | undefined {
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] ?? '';
    if (arg === '--config') index += 1;
    else if (!arg.startsWith('-')) return arg === 'help' ? undefined : arg;
  }
  return undefined;
}
