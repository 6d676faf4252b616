import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEngineEvents } from '../../internal/sandbox/docker-answers.js';

// Lines as dockerd 20.10 writes them on GET /events (trimmed to the fields read).
const kill = (signal: string): string => JSON.stringify({ status: 'kill', id: 'c1', Type: 'container', Action: 'kill', Actor: { ID: 'c1', Attributes: { image: 'x', signal } } });
const oom = JSON.stringify({ status: 'oom', id: 'c1', Type: 'container', Action: 'oom', Actor: { ID: 'c1', Attributes: { image: 'x' } } });
const die = JSON.stringify({ status: 'die', id: 'c1', Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: { exitCode: '137', signal: '3' } } });

describe('parseEngineEvents', () => {
  it('an empty log: no kill, no oom', () => {
    assert.deepEqual(parseEngineEvents(''), { killSignal: null, oom: false });
    assert.deepEqual(parseEngineEvents('\n\n'), { killSignal: null, oom: false });
  });
  it('the last kill event gives the signal', () => {
    assert.deepEqual(parseEngineEvents(`${kill('15')}\n${kill('9')}\n`), { killSignal: 9, oom: false });
  });
  it('an oom event is reported without a kill', () => {
    assert.deepEqual(parseEngineEvents(`${oom}\n`), { killSignal: null, oom: true });
  });
  it('only kill events carry the signal: a die event with attributes is not a kill', () => {
    assert.deepEqual(parseEngineEvents(`${die}\n`), { killSignal: null, oom: false });
  });
  it('a kill without a usable signal counts as none', () => {
    assert.deepEqual(parseEngineEvents(`${kill('x')}\n${kill('0')}\n`), { killSignal: null, oom: false });
  });
  it('a line that is not JSON throws', () => {
    assert.throws(() => parseEngineEvents('{not json\n'), SyntaxError);
  });
});
