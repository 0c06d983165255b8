import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { register as registerDecrypt } from './decrypt.js';
import { register as registerEncrypt } from './encrypt.js';
import { register as registerKeys } from './keys.js';

/** Every command registers its flags here; the work it does loads lazily inside its action. */
export function registerCommands(program: Command, ctx: CliContext): void {
  registerDecrypt(program, ctx);
  registerEncrypt(program, ctx);
  registerKeys(program, ctx);
}
