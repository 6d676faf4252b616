import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutputCap } from '../../internal/sandbox/output-cap.js';

describe('OutputCap', () => {
  it('keeps everything under the cap', () => {
    const cap = new OutputCap(10);
    assert.equal(cap.take('stdout', Buffer.from('abcd')).toString(), 'abcd');
    assert.equal(cap.take('stderr', Buffer.from('efgh')).toString(), 'efgh');
    assert.equal(cap.truncated, false);
    assert.deepEqual(cap.bytes, { stdout: 4, stderr: 4 });
    assert.equal(cap.total, 8);
  });

  it('shares one budget between both streams and cuts the chunk that overflows', () => {
    const cap = new OutputCap(10);
    cap.take('stdout', Buffer.from('123456'));
    assert.equal(cap.take('stderr', Buffer.from('abcdef')).toString(), 'abcd');
    assert.equal(cap.truncated, true);
    assert.deepEqual(cap.truncatedStreams, { stdout: false, stderr: true });
    assert.equal(cap.take('stdout', Buffer.from('x')).length, 0);
    assert.deepEqual(cap.truncatedStreams, { stdout: true, stderr: true });
    assert.deepEqual(cap.bytes, { stdout: 6, stderr: 4 });
  });

  it('an exact fit is not truncation', () => {
    const cap = new OutputCap(3);
    assert.equal(cap.take('stdout', Buffer.from('abc')).toString(), 'abc');
    assert.equal(cap.truncated, false);
    assert.equal(cap.take('stdout', Buffer.alloc(0)).length, 0);
    assert.equal(cap.truncated, false);
    cap.take('stderr', Buffer.from('d'));
    assert.equal(cap.truncated, true);
  });

  it('does not cut a UTF-8 character in two, and stays closed afterwards', () => {
    const cap = new OutputCap(5);
    // 'ab' + '€' (3 bytes) + 'c' = 6 bytes; the cut at 5 would fall after '€', so keep 'ab€'.
    assert.equal(cap.take('stdout', Buffer.from('ab€c')).toString(), 'ab€');
    const cap2 = new OutputCap(4);
    // The cut at 4 falls inside '€': keep 'ab' only, and no later byte sneaks into the 2 spare bytes.
    assert.equal(cap2.take('stdout', Buffer.from('ab€')).toString(), 'ab');
    assert.equal(cap2.take('stdout', Buffer.from('z')).length, 0);
    assert.equal(cap2.total, 2);
  });

  it('counts bytes kept before a restart', () => {
    const cap = new OutputCap(10, { stdout: 4, stderr: 4 });
    assert.equal(cap.take('stdout', Buffer.from('xyz')).toString(), 'xy');
    assert.equal(cap.truncated, true);
    assert.deepEqual(cap.bytes, { stdout: 6, stderr: 4 });
  });

  it('a zero cap keeps nothing', () => {
    const cap = new OutputCap(0);
    assert.equal(cap.take('stderr', Buffer.from('a')).length, 0);
    assert.equal(cap.truncated, true);
    assert.throws(() => new OutputCap(-1), TypeError);
  });
});
