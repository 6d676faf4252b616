import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Demuxer, DemuxError, type DemuxChunk } from '../../internal/sandbox/demux.js';
import { SkipSink } from '../../internal/sandbox/output-pump.js';
import type { StreamName } from '../../internal/sandbox/sandbox.js';

function frame(type: number, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

/** Concatenated output per stream. */
function collect(chunks: DemuxChunk[]): Record<StreamName, string> {
  const out = { stdout: '', stderr: '' };
  for (const c of chunks) out[c.stream] += c.data.toString('latin1');
  return out;
}

function feed(d: Demuxer, raw: Buffer, cuts: number[]): DemuxChunk[] {
  const out: DemuxChunk[] = [];
  let pos = 0;
  for (const cut of [...cuts, raw.length]) {
    if (cut < pos) continue;
    out.push(...d.push(raw.subarray(pos, cut)).map((c) => ({ stream: c.stream, data: Buffer.from(c.data) })));
    pos = cut;
  }
  return out;
}

describe('Demuxer', () => {
  it('splits frames of both streams in order', () => {
    const d = new Demuxer();
    const out = d.push(Buffer.concat([frame(1, 'out1\n'), frame(2, 'err\n'), frame(1, 'out2')]));
    assert.deepEqual(
      out.map((c) => [c.stream, c.data.toString()]),
      [['stdout', 'out1\n'], ['stderr', 'err\n'], ['stdout', 'out2']],
    );
    d.end();
  });

  it('handles a header split across chunks, byte by byte', () => {
    const raw = Buffer.concat([frame(2, 'abc'), frame(1, 'defg')]);
    const d = new Demuxer();
    const out = feed(d, raw, Array.from({ length: raw.length }, (_, i) => i));
    assert.deepEqual(collect(out), { stdout: 'defg', stderr: 'abc' });
    d.end();
  });

  it('delivers the payload of a frame before the frame is complete', () => {
    const d = new Demuxer();
    const raw = frame(1, 'hello world');
    assert.deepEqual(d.push(raw.subarray(0, 10)).map((c) => c.data.toString()), ['he']);
    assert.throws(() => d.end(), DemuxError);
    assert.deepEqual(d.push(raw.subarray(10)).map((c) => c.data.toString()), ['llo world']);
    d.end();
  });

  it('accepts empty frames and empty chunks', () => {
    const d = new Demuxer();
    assert.deepEqual(d.push(Buffer.alloc(0)), []);
    assert.deepEqual(collect(d.push(Buffer.concat([frame(1, ''), frame(2, 'x')]))), { stdout: '', stderr: 'x' });
    d.end();
  });

  it('rejects an unknown stream type and reports a daemon error frame', () => {
    assert.throws(() => new Demuxer().push(frame(7, 'x')), DemuxError);
    assert.throws(() => new Demuxer().push(frame(3, 'boom')), /daemon error: boom/);
  });

  it('any chunking gives the same streams (property)', () => {
    const frames = fc.array(fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 40 })), { maxLength: 12 });
    fc.assert(
      fc.property(frames, fc.array(fc.nat({ max: 600 }), { maxLength: 20 }), (fs, cuts) => {
        const raw = Buffer.concat(fs.map(([t, p]) => frame(t, Buffer.from(p))));
        const expected = { stdout: '', stderr: '' };
        for (const [t, p] of fs) expected[t === 1 ? 'stdout' : 'stderr'] += Buffer.from(p).toString('latin1');
        const d = new Demuxer();
        assert.deepEqual(collect(feed(d, raw, [...cuts].sort((a, b) => a - b))), expected);
        d.end();
      }),
    );
  });
});

describe('SkipSink', () => {
  it('drops the first skip bytes of each stream, across chunk boundaries', () => {
    const got: Array<[StreamName, string]> = [];
    const sink = new SkipSink({ write: (s, d) => got.push([s, d.toString()]) }, { stdout: 5, stderr: 1 });
    sink.write('stdout', Buffer.from('abc'));
    sink.write('stderr', Buffer.from('XY'));
    sink.write('stdout', Buffer.from('defgh'));
    sink.write('stdout', Buffer.from('ij'));
    assert.deepEqual(got, [['stderr', 'Y'], ['stdout', 'fgh'], ['stdout', 'ij']]);
    assert.deepEqual(sink.position, { stdout: 10, stderr: 2 });
  });
});
