/**
 * Refusing a WebSocket upgrade: the socket has left the HTTP server (no Koa, no error
 * middleware), so the `{"error","code"}` response of SPEC §3 is written on it by hand,
 * with the same rule as the middleware: a 5xx never carries internal detail.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { AgentError, asAgentError, type ErrorBody } from '../errors.js';

/** Status, headers and body of the refusal for `e`. */
export function refusalResponse(e: unknown, requestId: string): Buffer {
  const err = asAgentError(e) ?? new AgentError('INTERNAL', 'internal error');
  const body: ErrorBody = { error: err.expose ? err.message : 'internal error', code: err.code };
  const json = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(json)}`,
    `X-Request-Id: ${requestId}`,
    ...Object.entries(err.headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${json}`, 'utf8');
}

/** Write the refusal and close the socket once it is flushed. */
export function refuseUpgrade(socket: Duplex, e: unknown, requestId: string): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(refusalResponse(e, requestId));
}
