#!/usr/bin/env node
// The CLI lives in dist/cli; this file only starts it.
import { run } from '../dist/cli/main.js';

process.exitCode = await run(process.argv);
