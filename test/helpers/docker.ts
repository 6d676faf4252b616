/**
 * Docker access for integration tests: the local sandbox image (never pulled) and a
 * client. Tests that need the engine call requireDocker(), which fails loudly when the
 * engine does not answer: a skipped sandbox test would hide a broken host.
 */
import Dockerode from 'dockerode';

/** Image the integration tests run; built locally by scripts/docker-up.sh. */
export const TEST_IMAGE = process.env.QUICKCMD_SANDBOX_IMAGE ?? 'quickcmd-sandbox:latest';

/** A dockerode client for the default socket (or DOCKER_HOST). */
export function dockerClient(): Dockerode {
  return new Dockerode();
}

/** Throws unless the engine answers and TEST_IMAGE is present; returns the client. */
export async function requireDocker(docker: Dockerode = dockerClient()): Promise<Dockerode> {
  try {
    await docker.ping();
  } catch (e) {
    throw new Error(`Docker engine does not answer (run scripts/docker-up.sh): ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    await docker.getImage(TEST_IMAGE).inspect();
  } catch (e) {
    throw new Error(`test image ${TEST_IMAGE} is missing (run scripts/docker-up.sh): ${e instanceof Error ? e.message : String(e)}`);
  }
  return docker;
}

/** Force-removes every container carrying `label=value`; returns how many were removed. */
export async function removeLabelled(docker: Dockerode, label: string, value: string): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  return list.length;
}
