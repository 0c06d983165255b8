import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** Every command registers its flags here; the work it does loads lazily inside its action. */
export function registerCommands(_program: Command, _ctx: CliContext): void {}
