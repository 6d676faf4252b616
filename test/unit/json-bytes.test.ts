import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonWithStringField } from '../../internal/agent/stream/json-bytes.js';
import { FrameEncoder, type WireOutputFrame } from '../../internal/agent/stream/stream-frame.js';
import { rfc3339 } from '../../internal/agent/clock.js';

/** What the encoder did before: the reference every fast path must match byte for byte. */
function reference(jobId: string, seq: number, ts: number, stream: 'stdout' | 'stderr', data: Buffer): Buffer {
  const wire: WireOutputFrame = { job_id: jobId, seq, timestamp: rfc3339(ts), stream, data: data.toString('utf8'), final: false };
  return Buffer.from(JSON.stringify(wire), 'utf8');
}

/** A deterministic pseudo-random generator (so a failure is reproducible). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('output frame JSON from bytes', () => {
  it('is byte for byte JSON.stringify of the decoded frame, for every kind of byte', () => {
    const r = rng(19);
    const pieces = ['plain', 'héllo wörld', '✓ 😀', '"quoted"', 'back\\slash', '\n\r\t\b\f', '\u0000\u0001\u001f\u007f', '\u2028\u2029', '\ud7ff\ue000\uffff'];
    const enc = new FrameEncoder();
    for (let t = 0; t < 5000; t++) {
      const parts: Buffer[] = [];
      const n = Math.floor(r() * 8);
      for (let i = 0; i < n; i++) {
        if (r() < 0.6) parts.push(Buffer.from(pieces[Math.floor(r() * pieces.length)] as string, 'utf8'));
        else parts.push(Buffer.from(Array.from({ length: Math.floor(r() * 12) }, () => Math.floor(r() * 256)))); // often invalid UTF-8
      }
      const data = Buffer.concat(parts);
      const jobId = t % 3 === 0 ? `job-${t}` : t % 3 === 1 ? `jöb "${t}" ✓` : `j\\${t}\n`;
      const frame = { seq: t + 1, ts: 1_700_000_000_000 + t, stream: t % 2 === 0 ? ('stdout' as const) : ('stderr' as const), data };
      assert.deepEqual(enc.output(jobId, frame), reference(jobId, frame.seq, frame.ts, frame.stream, data), `case ${t}: ${data.toString('hex')}`);
    }
  });

  it('copies text without escapes as is and escapes each control character like JSON.stringify', () => {
    assert.equal(jsonWithStringField('{"a":', Buffer.from('xyz ✓'), '}').toString('utf8'), '{"a":"xyz ✓"}');
    for (let b = 0; b < 0x20; b++) {
      const data = Buffer.from([0x61, b, 0x62]);
      assert.equal(jsonWithStringField('', data, '').toString('utf8'), JSON.stringify(data.toString('utf8')), `byte ${b}`);
    }
    // A character cut at the end of the data (a truncated tail) decodes to U+FFFD, as before.
    const cut = Buffer.from('ab✓').subarray(0, 4);
    assert.equal(jsonWithStringField('', cut, '').toString('utf8'), JSON.stringify(cut.toString('utf8')));
  });
});
