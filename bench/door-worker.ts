/**
 * One attacking client process of the door bench: `connections` keep-alive TLS
 * connections, each sending the same invalid-signature submission again as soon as the
 * previous answer is in (no pipelining). A hand-written HTTP/1.1 client, so the attacker
 * spends its CPU on TLS and bytes rather than on Node's HTTP machinery. Counts answers
 * by status during the measured window (after a warm-up) and reports them to the parent.
 */
import tls from 'node:tls';

/** What the parent sends. */
export interface DoorWorkerTask {
  readonly host: string;
  readonly port: number;
  readonly ca: string;
  readonly path: string;
  readonly body: string;
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** What the worker answers. */
export interface DoorWorkerReport {
  /** Answers per HTTP status inside the measured window. */
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly windowMs: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

function runConnection(task: DoorWorkerTask, request: Buffer, count: (status: number) => void, stop: () => boolean, onError: () => void): Promise<void> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: task.host, port: task.port, ca: task.ca, servername: 'localhost' });
    let buf: Buffer = Buffer.alloc(0);
    let closed = false;
    const finish = (): void => {
      if (closed) return;
      closed = true;
      socket.destroy();
      resolve();
    };
    socket.on('secureConnect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf(HEADER_END);
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const m = /content-length:\s*(\d+)/i.exec(head);
        const total = end + 4 + (m === null ? 0 : Number(m[1]));
        if (buf.length < total) return;
        count(Number(head.slice(9, 12)));
        const closing = /\r\nconnection:\s*close/i.test(head);
        buf = buf.subarray(total);
        if (closing || stop()) return finish();
        socket.write(request);
      }
    });
    socket.on('error', () => {
      onError();
      finish();
    });
    socket.on('close', finish);
  });
}

async function main(task: DoorWorkerTask): Promise<DoorWorkerReport> {
  const body = Buffer.from(task.body, 'utf8');
  const request = Buffer.concat([
    Buffer.from(`POST ${task.path} HTTP/1.1\r\nHost: ${task.host}:${task.port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'),
    body,
  ]);
  const statuses: Record<string, number> = {};
  let errors = 0;
  const t0 = performance.now();
  const windowStart = t0 + task.warmupMs;
  const windowEnd = windowStart + task.durationMs;
  const count = (status: number): void => {
    const now = performance.now();
    if (now >= windowStart && now < windowEnd) statuses[status] = (statuses[status] ?? 0) + 1;
  };
  const stop = (): boolean => performance.now() >= windowEnd;
  const loops = Array.from({ length: task.connections }, async () => {
    // A connection the server closed (e.g. Connection: close) is replaced until the window ends.
    while (!stop()) await runConnection(task, request, count, stop, () => errors++);
  });
  await Promise.all(loops);
  return { statuses, errors, windowMs: task.durationMs };
}

process.once('message', (task: DoorWorkerTask) => {
  void main(task).then((report) => {
    process.send?.(report, () => process.exit(0));
  });
});
