/**
 * Last-resort handlers of the daemon: an unhandled rejection or uncaught exception is a
 * bug, and the process state after it is unknown. It is logged as one JSON line (written
 * synchronously: the async logger could lose it at exit) and the process exits 1, so
 * systemd restarts it and recovery re-adopts the running jobs. Nothing dies silently.
 */
import fs from 'node:fs';

/** What the handlers need from the process (injected so a test can call them). */
export interface LastResortHost {
  on(event: 'unhandledRejection' | 'uncaughtException', listener: (e: unknown) => void): unknown;
  exit(code: number): never;
}

/** The one JSON log line of a fatal error. */
export function fatalLine(kind: 'unhandled rejection' | 'uncaught exception', e: unknown): string {
  const err = e instanceof Error ? { type: e.name, message: e.message, stack: e.stack } : { message: String(e) };
  return `${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), service: 'quickcmd-agent', kind, err, msg: `${kind}: exiting so the service manager restarts the agent` })}\n`;
}

/** Install both handlers; `write` defaults to a synchronous write to stdout (journald). */
export function installLastResort(host: LastResortHost, write: (line: string) => void = (l) => fs.writeSync(1, l)): void {
  const handler = (kind: 'unhandled rejection' | 'uncaught exception') => (e: unknown): void => {
    try {
      write(fatalLine(kind, e));
    } finally {
      host.exit(1);
    }
  };
  host.on('unhandledRejection', handler('unhandled rejection'));
  host.on('uncaughtException', handler('uncaught exception'));
}
