import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { incompleteTail, utf8Boundary, Utf8Framer } from '../../internal/sandbox/utf8-framer.js';

describe('Utf8Framer', () => {
  it('passes ASCII straight through', () => {
    const f = new Utf8Framer();
    assert.equal(f.push(Buffer.from('hello')).toString(), 'hello');
    assert.equal(f.flush().length, 0);
  });

  it('holds a 4-byte character split across 3 writes until it is whole', () => {
    const bytes = Buffer.from('a😀b'); // 61 f0 9f 98 80 62
    const f = new Utf8Framer();
    assert.equal(f.push(bytes.subarray(0, 2)).toString(), 'a');
    assert.equal(f.pending, 1);
    assert.equal(f.push(bytes.subarray(2, 3)).length, 0);
    assert.equal(f.pending, 2);
    assert.equal(f.push(bytes.subarray(3)).toString(), '😀b');
    assert.equal(f.pending, 0);
  });

  it('holds a 3-byte character split 1+1+1', () => {
    const euro = Buffer.from('€');
    const f = new Utf8Framer();
    assert.equal(f.push(euro.subarray(0, 1)).length, 0);
    assert.equal(f.push(euro.subarray(1, 2)).length, 0);
    assert.equal(f.push(euro.subarray(2)).toString(), '€');
  });

  it('flush hands out an incomplete tail at end of stream', () => {
    const f = new Utf8Framer();
    assert.equal(f.push(Buffer.from([0x41, 0xe2, 0x82])).toString(), 'A');
    assert.deepEqual([...f.flush()], [0xe2, 0x82]);
    assert.equal(f.flush().length, 0);
  });

  it('passes invalid bytes through instead of holding them', () => {
    const f = new Utf8Framer();
    assert.deepEqual([...f.push(Buffer.from([0x61, 0xff]))], [0x61, 0xff]);
    assert.deepEqual([...f.push(Buffer.from([0x80, 0x80, 0x80, 0x80]))], [0x80, 0x80, 0x80, 0x80]);
    assert.equal(f.pending, 0);
  });

  it('every frame is valid UTF-8 and the concatenation is the input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.array(fc.nat({ max: 200 }), { maxLength: 10 }), (s, cuts) => {
        const bytes = Buffer.from(s);
        const f = new Utf8Framer();
        const frames: Buffer[] = [];
        let pos = 0;
        for (const cut of [...cuts].sort((a, b) => a - b).concat(bytes.length)) {
          if (cut < pos || cut > bytes.length) continue;
          frames.push(f.push(bytes.subarray(pos, cut)));
          pos = cut;
        }
        frames.push(f.flush());
        for (const fr of frames) assert.equal(Buffer.from(fr.toString('utf8')).equals(fr), true);
        assert.equal(Buffer.concat(frames).toString(), s);
      }),
    );
  });
});

describe('utf8Boundary / incompleteTail', () => {
  it('finds the last whole-character cut', () => {
    const b = Buffer.from('a€b'); // 61 e2 82 ac 62
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => utf8Boundary(b, n)), [0, 1, 1, 1, 4, 5]);
    assert.equal(utf8Boundary(b, 99), 5);
  });

  it('measures the incomplete tail', () => {
    assert.equal(incompleteTail(Buffer.from('abc')), 0);
    assert.equal(incompleteTail(Buffer.from([0xf0, 0x9f, 0x98])), 3);
    assert.equal(incompleteTail(Buffer.from('😀')), 0);
    assert.equal(incompleteTail(Buffer.alloc(0)), 0);
  });
});
