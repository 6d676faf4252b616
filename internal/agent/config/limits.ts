/** Limits shared by the config schemas (no imports, so every schema file can use them). */

/** Docker refuses containers with less memory than 6 MB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
