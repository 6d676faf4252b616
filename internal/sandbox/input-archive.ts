/**
 * The tar stream of a job's input files, as PID 1 of its container extracts it into
 * /workspace (supervisor.ts). Built here from paths the door already validated, so the
 * container only ever sees plain directories and regular files with mode 0644 or 0755.
 */
import crypto from 'node:crypto';
import tar from 'tar-stream';
import type { InputFile } from './sandbox.js';

/** Lowercase hex SHA-256. */
export function sha256Hex(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** Every parent directory of the paths, shallowest first, each once. */
function parentsOf(files: readonly InputFile[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of files) {
    const parts = f.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!seen.has(dir)) {
        seen.add(dir);
        out.push(dir);
      }
    }
  }
  return out.sort((a, b) => a.split('/').length - b.split('/').length);
}

/** The whole archive in memory (inputs are capped at max_input_bytes by the door). */
export async function inputArchive(files: readonly InputFile[], mtime: Date = new Date()): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const dir of parentsOf(files)) pack.entry({ name: `./${dir}/`, type: 'directory', mode: 0o755, mtime });
  for (const f of files) pack.entry({ name: `./${f.path}`, type: 'file', mode: f.mode, size: f.content.length, mtime }, f.content);
  pack.finalize();
  return done;
}
