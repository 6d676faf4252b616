/**
 * Config keys of input files and artifacts (SPEC §12), spread into the main schema. The
 * defaults are the spec's; a job that sends no files and asks for no artifacts is not
 * affected by any of them.
 */
import { z } from 'zod';

const count = z.number().int().nonnegative();

/** The §12 keys with their defaults. */
export const filesConfigSchema = {
  /** Most input files one job may send in candidate_metadata.files. */
  max_input_files: count.max(4096).default(64),
  /** Most decoded bytes of all input files of one job. */
  max_input_bytes: count.max(64 * 1024 * 1024).default(524288),
  /** Most artifact files collected per job; past it collection stops (artifacts_truncated). */
  max_artifact_files: count.max(65536).default(256),
  /** Most artifact bytes collected per job; past it collection stops (artifacts_truncated). */
  max_artifact_bytes: count.max(1024 * 1024 * 1024).default(8388608),
};
