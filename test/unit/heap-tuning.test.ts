import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { youngGenerationChosen } from '../../internal/agent/daemon/heap-tuning.js';

describe('daemon heap tuning', () => {
  it('leaves the young generation to an operator who sized it on the node command line', () => {
    assert.equal(youngGenerationChosen([], undefined), false);
    assert.equal(youngGenerationChosen(['--enable-source-maps'], '--max-old-space-size=256'), false);
    assert.equal(youngGenerationChosen(['--max-semi-space-size=1'], undefined), true);
    assert.equal(youngGenerationChosen([], '--trace-warnings --max_semi_space_size=8'), true);
    assert.equal(youngGenerationChosen(['--min-semi-space-size=4'], ''), true);
    assert.equal(youngGenerationChosen([], '--semi-space-growth-factor=2'), true);
  });
});
