/**
 * The listening socket: HTTPS with TLS 1.2+ (optionally mTLS), or plain HTTP only when
 * `insecure_http` is set. Timeouts bound slow clients; certificates can be swapped on
 * reload without dropping connections.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { AgentConfig } from '../config/config.js';
import type { Duplex } from 'node:stream';
import { ConfigError, statusFor, type ErrorCode } from '../errors.js';

/** Either kind of server. */
export type AgentServer = http.Server | https.Server;

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** TLS material read from the files the config names. */
export function tlsOptions(cfg: AgentConfig): https.ServerOptions {
  const read = (key: 'tls_cert_file' | 'tls_key_file' | 'tls_client_ca_file'): Buffer | undefined => {
    const file = cfg[key];
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (e) {
      throw new ConfigError(key, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  };
  const ca = read('tls_client_ca_file');
  return {
    cert: read('tls_cert_file'),
    key: read('tls_key_file'),
    minVersion: 'TLSv1.2',
    honorCipherOrder: true,
    ...(ca !== undefined ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
  };
}

/** Create (not yet listening) the server for `cfg`. */
export function createServer(cfg: AgentConfig, handler: Handler): AgentServer {
  const server = cfg.insecure_http ? http.createServer(handler) : https.createServer(tlsOptions(cfg), handler);
  // Slow-loris bounds: headers within 10 s, whole request within 30 s.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', answerClientError);
  return server;
}

const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/**
 * Requests Node cannot even parse (garbage request line, Content-Length with chunked,
 * oversized headers, slow headers) still get the `{"error","code"}` body of SPEC §3.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'MALFORMED_REQUEST';
  const status = statusFor(code);
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: 'malformed HTTP request', code });
  socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Listen on the config's address and port. */
export function listen(server: AgentServer, cfg: AgentConfig): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(cfg.port, cfg.bind_address, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Swap certificates after a reload (HTTPS only). */
export function reloadTls(server: AgentServer, cfg: AgentConfig): void {
  if (server instanceof https.Server) server.setSecureContext(tlsOptions(cfg));
}

/** Stop listening and end idle keep-alive connections; resolves when all are closed. */
export function closeServer(server: AgentServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
    // Active connections get a moment to finish their response, then are cut.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}
