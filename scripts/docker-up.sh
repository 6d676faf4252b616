#!/usr/bin/env bash
# Prepare the Docker engine and the local sandbox image the agent and its tests need.
# Idempotent: installs docker.io, busybox-static and runsc (gVisor) if missing, registers runsc
# in /etc/docker/daemon.json (merged into what is there), starts dockerd if it is not answering
# or makes a running one pick the runtime up (SIGHUP), builds the sandbox image if absent.
# Nothing is pulled (no registry is reachable).
set -euo pipefail

IMAGE="${QUICKCMD_SANDBOX_IMAGE:-quickcmd-sandbox:latest}"
log() { printf '[docker-up] %s\n' "$*" >&2; }

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)
command -v runsc >/dev/null 2>&1 || need_apt+=(runsc)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then log "must be root to install ${need_apt[*]}"; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

DAEMON_JSON="${QUICKCMD_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}"
has_runsc() { docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}' 2>/dev/null | tr ' ' '\n' | grep -qx runsc; }

# Register runsc under "runtimes", keeping every other key (and other runtimes) as it is.
# --network=none: this engine runs jobs without a network; runsc refuses to run with its own
# network stack in the root network namespace otherwise. Rewrites the file only on a change.
register_runsc() {
  local runsc_path
  runsc_path=$(command -v runsc)
  mkdir -p "$(dirname "$DAEMON_JSON")"
  RUNSC_PATH="$runsc_path" DAEMON_JSON="$DAEMON_JSON" node -e '
    const fs = require("fs");
    const file = process.env.DAEMON_JSON;
    let text = "";
    try { text = fs.readFileSync(file, "utf8"); } catch (e) { if (e.code !== "ENOENT") throw e; }
    const cfg = text.trim() === "" ? {} : JSON.parse(text);
    if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) throw new Error(file + " is not a JSON object");
    const runtimes = cfg.runtimes && typeof cfg.runtimes === "object" ? cfg.runtimes : {};
    const prev = runtimes.runsc && typeof runtimes.runsc === "object" ? runtimes.runsc : {};
    const args = Array.isArray(prev.runtimeArgs) ? prev.runtimeArgs.filter((a) => !/^--network(=|$)/.test(a)) : [];
    args.push("--network=none");
    runtimes.runsc = { ...prev, path: prev.path || process.env.RUNSC_PATH, runtimeArgs: args };
    cfg.runtimes = runtimes;
    const out = JSON.stringify(cfg, null, 2) + "\n";
    if (out !== text) {
      const tmp = file + ".tmp-" + process.pid;
      fs.writeFileSync(tmp, out, { mode: 0o644 });
      fs.renameSync(tmp, file);
      console.log("changed");
    }
  '
}

# An engine that already lists runsc needs nothing (whatever file registered it).
if [ -z "${DOCKER_HOST:-}" ] && ! has_runsc; then
  if [ "$(id -u)" -eq 0 ]; then
    changed=$(register_runsc) || { log "could not register runsc in $DAEMON_JSON"; exit 1; }
    if [ "$changed" = changed ]; then log "registered runsc in $DAEMON_JSON"; fi
  else
    log "the engine does not list the runsc runtime; run this script as root to register it in $DAEMON_JSON"; exit 1
  fi
fi

if docker info >/dev/null 2>&1 && ! has_runsc; then
  if [ -n "${DOCKER_HOST:-}" ]; then log "DOCKER_HOST=$DOCKER_HOST does not list the runsc runtime"; exit 1; fi
  pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || true)
  if [ -z "$pid" ]; then log "dockerd answers but its pid is unknown; cannot reload it for runsc"; exit 1; fi
  log "reloading dockerd (pid $pid) so it picks up runsc"
  kill -HUP "$pid"
  for _ in $(seq 1 60); do
    has_runsc && break
    sleep 0.5
  done
  has_runsc || { log "dockerd did not list runsc after SIGHUP; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2 || true; exit 1; }
fi

if ! docker info >/dev/null 2>&1; then
  if [ -n "${DOCKER_HOST:-}" ]; then log "DOCKER_HOST=$DOCKER_HOST does not answer"; exit 1; fi
  log "starting dockerd"
  # Detached from this script's output so callers that capture it do not hang on the pipe.
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not answer; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2 || true; exit 1; }
  has_runsc || { log "dockerd started without the runsc runtime; check $DAEMON_JSON"; exit 1; }
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "building $IMAGE from busybox-static"
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/workspace" "$ctx/rootfs/etc" "$ctx/rootfs/proc" "$ctx/rootfs/sys" "$ctx/rootfs/dev"
  cp /bin/busybox "$ctx/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$ctx/rootfs/bin/$applet"
  done
  chmod 1777 "$ctx/rootfs/tmp" "$ctx/rootfs/workspace"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$ctx/rootfs/etc/group"
  tar -C "$ctx/rootfs" -c . | docker import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
  log "built $IMAGE"
fi
echo "$IMAGE"
