/**
 * ConnectionAudit: the first broker connection always gets a row; later ones at most one a
 * minute, carrying how many went without a row; a failed write is logged, never thrown.
 * The audit is a recorder of `append` (its real rows are in the broker-connection-audit
 * integration test); the clock is the test's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditEventInput, AuditRecord } from '../../internal/audit/audit-log.js';
import { ConnectionAudit, RECONNECT_AUDIT_INTERVAL_MS } from '../../internal/agent/broker/connection-audit.js';
import { silentLogger } from '../../internal/agent/logger.js';

function setup(failing = false): { rows: AuditEventInput[]; audit: ConnectionAudit; advance: (ms: number) => void } {
  let now = 1_000_000;
  const rows: AuditEventInput[] = [];
  const audit = new ConnectionAudit({
    audit: {
      append: (e: AuditEventInput): AuditRecord => {
        if (failing) throw new Error('disk full');
        rows.push(e);
        return {} as AuditRecord;
      },
    },
    nowMs: () => now,
    logger: silentLogger(),
  });
  return { rows, audit, advance: (ms) => (now += ms) };
}

test('the first connection is written at once; reconnects within the minute are counted into the next row', () => {
  const { rows, audit, advance } = setup();
  audit.connected('10.0.0.1:4222', true, 'a1', 'tls://b:4222');
  assert.equal(rows.length, 1);
  assert.deepEqual(rows[0], { type: 'broker.connected', remoteAddr: '10.0.0.1:4222', details: { connection: 'first', agent_name: 'a1', broker_url: 'tls://b:4222', unaudited_reconnects: 0 } });
  for (let i = 0; i < 50; i++) {
    advance(1000);
    audit.connected('10.0.0.1:4222', false, 'a1', 'tls://b:4222');
  }
  assert.equal(rows.length, 1, 'a flapping broker adds no row within the minute');
  advance(RECONNECT_AUDIT_INTERVAL_MS);
  audit.connected('10.0.0.2:4222', true, 'a1', 'tls://b:4222');
  assert.equal(rows.length, 2);
  assert.deepEqual(rows[1]?.details, { connection: 'fresh', agent_name: 'a1', broker_url: 'tls://b:4222', unaudited_reconnects: 50 });
  advance(RECONNECT_AUDIT_INTERVAL_MS);
  audit.connected('10.0.0.2:4222', false, 'a1', 'tls://b:4222');
  assert.equal((rows[2]?.details as Record<string, unknown>)['connection'], 'reconnect');
  assert.equal((rows[2]?.details as Record<string, unknown>)['unaudited_reconnects'], 0);
});

test('an audit that cannot be written is logged, not thrown', () => {
  const { audit } = setup(true);
  assert.doesNotThrow(() => audit.connected('10.0.0.1:4222', true, 'a1', 'tls://b:4222'));
});
