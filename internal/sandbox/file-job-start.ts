/**
 * Starting a file job's container (SPEC §12, supervisor.ts): created with the supervisor as
 * PID 1, attached (with stdin when there are inputs) before the start so no output byte is
 * lost, started, then fed the input archive and stdin closed. With artifacts, the handle
 * is a SupervisedHandle; a supervised container found running after an agent restart gets
 * one too (its plan is in its label), so its artifacts are still collected.
 */
import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { containerRuntime, readableOf } from './docker-answers.js';
import { DockerHandle, removeContainer, type SandboxLogger } from './docker-handle.js';
import { inputArchive, sha256Hex } from './input-archive.js';
import { OutputPump } from './output-pump.js';
import type { OutputSink, SandboxHandle, SandboxSpec } from './sandbox.js';
import { isNotFound, SandboxError, toSandboxError } from './sandbox-error.js';
import { SupervisedHandle } from './supervised-handle.js';
import { collectPlanOf, inputManifest, LABEL_ARTIFACTS, parseCollectPlan, supervisedContainerOptions } from './supervisor.js';

/** What DockerSandbox lends to the file-job path. */
export interface FileJobDeps {
  readonly docker: Dockerode;
  readonly logger: SandboxLogger | undefined;
  readonly logMaxBytes: number;
  /** DockerSandbox's set of live handles (detached on close). */
  readonly live: Set<{ detach(): void }>;
  /** Throws unless the created container runs with the spec's runtime (SPEC §14). */
  readonly checkRuntime: (spec: SandboxSpec, actual: string) => void;
}

function isDuplex(s: unknown): s is Duplex {
  return typeof s === 'object' && s !== null && typeof (s as Duplex).write === 'function' && typeof (s as Duplex).end === 'function';
}

/** Create, attach, start and feed one file job's container. */
export async function startFileJob(d: FileJobDeps, spec: SandboxSpec, sink: OutputSink): Promise<SandboxHandle> {
  const inputs = spec.files ?? [];
  let options: Dockerode.ContainerCreateOptions;
  let plan;
  let archive: Buffer | null;
  try {
    options = supervisedContainerOptions(spec, inputManifest(spec, sha256Hex), { logMaxBytes: d.logMaxBytes });
    plan = collectPlanOf(spec);
    archive = inputs.length > 0 ? await inputArchive(inputs) : null;
  } catch (e) {
    throw new SandboxError('SANDBOX_ERROR', `invalid sandbox spec: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  let container: Dockerode.Container;
  try {
    container = await d.docker.createContainer(options);
  } catch (e) {
    if (isNotFound(e)) throw new SandboxError('IMAGE_MISSING', `image ${spec.image} is not present on this host (pull_images is false)`, { cause: e });
    throw toSandboxError(e, `creating the container of job ${spec.jobId}`);
  }
  let pump: OutputPump | null = null;
  try {
    const [attached, inspected] = await Promise.all([
      container.attach({ stream: true, stdin: archive !== null, stdout: true, stderr: true, hijack: true }),
      container.inspect().catch((e: unknown) => ({ failed: e })),
    ]);
    const socket = readableOf(attached);
    pump = new OutputPump(socket, sink);
    if ('failed' in inspected) throw inspected.failed;
    d.checkRuntime(spec, containerRuntime(inspected));
    await container.start();
    if (archive !== null) {
      if (!isDuplex(socket)) throw new TypeError('docker attach with stdin did not give a writable socket');
      const bytes = archive;
      await new Promise<void>((resolve, reject) => socket.write(bytes, (err) => (err ? reject(err) : resolve())));
      // Half-close: with StdinOnce the engine closes PID 1's stdin, which ends its tar.
      socket.end();
    }
  } catch (e) {
    pump?.destroy();
    await removeContainer(container).catch((err: unknown) => d.logger?.warn({ containerId: container.id, err }, 'could not remove a container that failed to start'));
    throw toSandboxError(e, `starting the container of job ${spec.jobId}`);
  }
  const inner = new DockerHandle(container, pump, d.logger, null, (h) => d.live.delete(h));
  if (plan === null) {
    d.live.add(inner);
    return inner;
  }
  const h = new SupervisedHandle(container, inner, plan, d.logger, (s) => d.live.delete(s));
  d.live.add(h);
  return h;
}

/** A SupervisedHandle for a re-attached container that carries a collect plan, else null. */
export function supervisedReattach(
  container: Dockerode.Container,
  inspect: unknown,
  inner: DockerHandle,
  logger: SandboxLogger | undefined,
  onSettled: (h: SupervisedHandle) => void,
): SupervisedHandle | null {
  const labels = (inspect as { Config?: { Labels?: Record<string, unknown> } } | null)?.Config?.Labels;
  const plan = parseCollectPlan(labels?.[LABEL_ARTIFACTS]);
  return plan === null ? null : new SupervisedHandle(container, inner, plan, logger, onSettled);
}
