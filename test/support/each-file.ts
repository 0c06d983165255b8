/**
 * Vitest setup file: runs before every test file, also where the files share their worker's modules
 * (isolate: false). Registered first, its afterAll runs last, after the file's own hooks have stopped
 * whatever was using the folders.
 */
import { afterAll } from 'vitest';
import { removeTemporaryDirs } from './helpers.js';

afterAll(removeTemporaryDirs);
