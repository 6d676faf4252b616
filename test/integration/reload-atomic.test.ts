/**
 * Issue 12: a reload is all or nothing, and `check-config` checks what a start checks. A
 * config whose tls_cert_file is missing is refused whole by reload (ConfigError naming the
 * key): the controllers of the new file are not swapped in, the old ones keep access, and
 * `quickcmd agent check-config` exits 2 naming tls_cert_file instead of calling it valid.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parse } from 'yaml';
import { loadConfig } from '../../internal/agent/config/config.js';
import { checkConfig } from '../../internal/agent/agent-cli.js';
import { ConfigError } from '../../internal/agent/errors.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { status, submit } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';

describe('reload all or nothing; check-config = start', { timeout: 60_000 }, () => {
  let a: TestAgent | undefined;
  after(async () => {
    await a?.stop();
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
  });

  it('a config with a missing tls_cert_file is refused whole by reload and by check-config', async () => {
    await requireDocker();
    a = await startTestAgent({});
    const t = { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
    const ok = await submit(t, { command: 'true' });
    assert.equal(ok.reply.status, 202);
    // The new file drops controller-1 and points at a certificate that does not exist.
    const broken = parse(fs.readFileSync(a.configPath, 'utf8')) as Record<string, unknown>;
    broken['allowed_controllers'] = ['someone-else'];
    broken['tls_cert_file'] = path.join(a.dir, 'missing.crt');
    const file = path.join(a.dir, 'broken.yaml');
    fs.writeFileSync(file, stringify(broken), { mode: 0o600 });
    const next = loadConfig(file, {});
    assert.throws(() => a?.agent.reload(next), (e: unknown) => e instanceof ConfigError && /tls_cert_file/.test(e.message));
    assert.deepEqual(a.agent.config().allowed_controllers, ['controller-1'], 'nothing was swapped');
    const again = await submit(t, { command: 'true' });
    assert.equal(again.reply.status, 202, 'the old controller keeps access');
    assert.equal((await status(t, again.payload.jobId)).status, 200);

    let out = '';
    let err = '';
    const code = await checkConfig(file, { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((err += s), true) } } as never);
    assert.equal(code, 2, out);
    assert.match(err, /tls_cert_file/);
  });
});
