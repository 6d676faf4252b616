/** A row of `audit_events` exactly as SQLite returns it (the verifier and queries read these). */
export interface StoredRow {
  seq: number;
  ts: string;
  type: string;
  job_id: string | null;
  controller_id: string | null;
  remote_addr: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}
