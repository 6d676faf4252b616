/**
 * The names a verified client certificate proves (CN and DNS/URI/email SANs): under mTLS
 * one of them must equal the controller id.
 */
import type { TLSSocket } from 'node:tls';

/** Names of the verified peer certificate, or an empty set when there is none. */
export function peerIdentities(socket: TLSSocket): ReadonlySet<string> {
  const ids = new Set<string>();
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return ids;
  const cert = socket.getPeerCertificate(false);
  const cn = cert.subject?.CN;
  if (typeof cn === 'string') ids.add(cn);
  else if (Array.isArray(cn)) for (const c of cn) ids.add(c);
  for (const san of splitSans(cert.subjectaltname ?? '')) ids.add(san);
  return ids;
}

/** Values of `DNS:`, `URI:` and `email:` entries of an OpenSSL subjectaltname string. */
export function splitSans(s: string): string[] {
  const out: string[] = [];
  for (const part of s.split(', ')) {
    const m = /^(DNS|URI|email):(.+)$/.exec(part.trim());
    if (m !== null && m[2] !== undefined) out.push(m[2]);
  }
  return out;
}
