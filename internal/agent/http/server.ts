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
import { TLSSocket } from 'node:tls';
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
  // Header and request timeouts are checked every second, not every 30 s (Node's default),
  // so a slow client lives at most about a second past its bound.
  const base = { connectionsCheckingInterval: CONNECTIONS_CHECK_MS };
  const server = cfg.insecure_http
    ? http.createServer(base, handler)
    : https.createServer({ ...base, ...tlsOptions(cfg), handshakeTimeout: cfg.tls_handshake_timeout_seconds * 1000 }, handler);
  applyConnectionLimits(server, cfg);
  server.on('clientError', answerClientError);
  return server;
}

/** How often Node checks header and request timeouts. */
export const CONNECTIONS_CHECK_MS = 1000;

/**
 * Slow-loris bounds and the connection cap (also applied on reload): headers within
 * headers_timeout_seconds, the whole request within request_timeout_seconds, an idle
 * keep-alive connection closed after keep_alive_timeout_seconds, at most max_connections
 * open (Node closes the ones beyond at once). The TLS handshake bound is fixed at start.
 */
export function applyConnectionLimits(server: AgentServer, cfg: AgentConfig): void {
  server.headersTimeout = cfg.headers_timeout_seconds * 1000;
  // Node requires the whole-request bound to be at least the headers bound.
  server.requestTimeout = Math.max(cfg.request_timeout_seconds, cfg.headers_timeout_seconds) * 1000;
  server.keepAliveTimeout = cfg.keep_alive_timeout_seconds * 1000;
  server.maxConnections = cfg.max_connections;
}

const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/**
 * Requests Node cannot even parse (garbage request line, Content-Length with chunked,
 * oversized headers, slow headers) still get the `{"error","code"}` body of SPEC §3.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'MALFORMED_REQUEST';
  const status = statusFor(code);
  // A TLS socket whose handshake never finished (the handshake timeout lands here) cannot
  // carry an answer: end() would wait for the handshake forever and the socket would stay.
  const noTls = socket instanceof TLSSocket && socket.getProtocol() === null;
  if (err.code === 'ECONNRESET' || !socket.writable || noTls || err.code?.startsWith('ERR_TLS_') === true) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: 'malformed HTTP request', code });
  socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  // A client that never reads must not hold the socket open past the answer.
  setTimeout(() => socket.destroy(), CONNECTIONS_CHECK_MS).unref();
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
