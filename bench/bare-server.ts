/**
 * The door bench's baseline: a bare Node HTTPS server on the same certificate and port
 * settings as the agent that answers every submission with the agent's 401 body after
 * reading it, and /health with 200, doing nothing else. What it sustains is the ceiling
 * of Node's TLS and HTTP on this machine; its idle RSS and startup are Node's own floor.
 * Reads the agent config the bench wrote (BENCH_CONFIG) for port and key files.
 */
import fs from 'node:fs';
import https from 'node:https';
import { parse } from 'yaml';

const cfg = parse(fs.readFileSync(process.env['BENCH_CONFIG'] ?? '', 'utf8')) as { port: number; tls_cert_file: string; tls_key_file: string };
const rejected = Buffer.from(JSON.stringify({ error: 'signature verification failed', code: 'INVALID_SIGNATURE' }));
const server = https.createServer({ cert: fs.readFileSync(cfg.tls_cert_file), key: fs.readFileSync(cfg.tls_key_file), minVersion: 'TLSv1.2' }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'healthy', timestamp: Math.floor(Date.now() / 1000) }));
      return;
    }
    res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', 'content-length': rejected.length });
    res.end(rejected);
  });
});
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;
server.keepAliveTimeout = 5_000;
server.listen(cfg.port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
