/**
 * The build's code-cache run (scripts/bundle.mjs, QUICKCMD_CODE_CACHE_WRITE=1): what a start
 * does before it touches anything (read and validate a config file, here the example), so
 * V8's cache holds the YAML parser and the config schema compiled too. It never starts an
 * agent, opens a database or binds a port, whatever the file says; its outcome is ignored.
 */
import { loadConfig } from '../config/config.js';

/** Read and validate `file` as a start does; returns whether it was valid (for the build's log only). */
export function warmUpConfig(file: string): boolean {
  try {
    loadConfig(file, {});
    return true;
  } catch {
    return false;
  }
}
