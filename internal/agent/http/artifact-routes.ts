/**
 * Artifact downloads (SPEC §12): `GET /api/v1/jobs/:id/artifacts` → application/x-tar of
 * every artifact of the job, `GET /api/v1/jobs/:id/artifacts/<path>` → that file. Signed
 * and owner-only through the same `authorize` as the status route. Each file carries its
 * SHA-256 (`X-QuickCMD-SHA256`) so a client checks what it writes. `?encoding=base64`
 * answers one file as JSON `{path, size, sha256, content_base64}`: the form the broker's
 * rpc (JSON replies only) and the CLI use.
 */
import { Readable } from 'node:stream';
import type Router from '@koa/router';
import type { Context } from 'koa';
import tar from 'tar-stream';
import { AgentError } from '../errors.js';
import type { JobFilesStore } from '../jobs/job-files-store.js';
import type { JobRecord } from '../jobs/job.js';
import { isTerminal } from '../jobs/job.js';

/** Artifacts read from the database per page while a tar is written. */
const PAGE = 16;

/** The owner check of routes.ts: authenticates the request and returns the caller's job (or throws JOB_NOT_FOUND). */
export type Authorize = (ctx: Context, withBody: boolean) => Promise<{ rec: JobRecord }>;

function finished(rec: JobRecord): void {
  if (!isTerminal(rec.status)) throw new AgentError('NOT_FOUND', `job is ${rec.status}; its artifacts exist once it has finished`, { expose: true });
}

/** The tar of all artifacts, streamed page by page. */
function tarOf(files: JobFilesStore, jobId: string): tar.Pack {
  const pack = tar.pack();
  void (async () => {
    let after = 0;
    try {
      for (;;) {
        const page = files.page(jobId, after, PAGE);
        if (page.length === 0) break;
        for (const a of page) {
          await new Promise<void>((resolve, reject) => {
            pack.entry({ name: a.path, size: a.size, mode: 0o644, type: 'file', mtime: new Date(0) }, a.data, (err) => (err ? reject(err) : resolve()));
          });
          after = a.seq;
        }
      }
      pack.finalize();
    } catch (e) {
      pack.destroy(e instanceof Error ? e : new Error(String(e)));
    }
  })();
  return pack;
}

/** Adds the artifact routes to the router. */
export function addArtifactRoutes(router: Router, authorize: Authorize, files: JobFilesStore): void {
  router.get('/api/v1/jobs/:id/artifacts', async (ctx) => {
    const { rec } = await authorize(ctx, false);
    finished(rec);
    ctx.type = 'application/x-tar';
    ctx.set('Content-Disposition', `attachment; filename="${rec.jobId}-artifacts.tar"`);
    // tar-stream's pack is a streamx stream, which Koa does not recognise as a body stream.
    ctx.body = Readable.from(tarOf(files, rec.jobId));
  });

  router.get('/api/v1/jobs/:id/artifacts/*path', async (ctx) => {
    const { rec } = await authorize(ctx, false);
    finished(rec);
    const raw = ctx.params['path'];
    const path = Array.isArray(raw) ? raw.join('/') : String(raw);
    const a = files.get(rec.jobId, path);
    if (a === null) throw new AgentError('NOT_FOUND', 'no such artifact', { expose: true });
    if (ctx.query['encoding'] === 'base64') {
      ctx.body = { path: a.path, size: a.size, sha256: a.sha256, content_base64: a.data.toString('base64') };
      return;
    }
    ctx.type = 'application/octet-stream';
    ctx.set('X-QuickCMD-SHA256', a.sha256);
    ctx.body = a.data;
  });
}
