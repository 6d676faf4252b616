#!/usr/bin/env bash
# Quick start (README: `npm run demo`): prepares Docker and the sandbox image, builds,
# writes a development config with a self-signed certificate and a fresh secret into
# ./.dev, starts the agent on 127.0.0.1, and runs a demo job through the CLI so you see
# its output stream live. The agent then keeps running in the foreground (Ctrl-C stops
# it); pass --exit (or QUICKCMD_DEMO_EXIT=1) to stop it after the demo job.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEV="$ROOT/.dev"
PORT="${QUICKCMD_DEMO_PORT:-8443}"
EXIT_AFTER="${QUICKCMD_DEMO_EXIT:-0}"
[ "${1:-}" = "--exit" ] && EXIT_AFTER=1
# `npm run demo -- --fleet`: a broker and three agents, one fan-out by selector.
[ "${1:-}" = "--fleet" ] && exec bash scripts/demo-fleet.sh
say() { printf '\033[1m[demo]\033[0m %s\n' "$*" >&2; }

[ -d node_modules ] || { say "installing dependencies (npm ci)"; npm ci --no-audit --no-fund >/dev/null; }
say "preparing the Docker engine and the sandbox image"
IMAGE=$(bash scripts/docker-up.sh)
say "building"
npm run --silent build

mkdir -p "$DEV"
chmod 700 "$DEV"
if [ ! -f "$DEV/hmac-secret" ]; then
  (umask 077 && node dist/cmd/quickcmd.js agent gen-key > "$DEV/hmac-secret")
fi
if [ ! -f "$DEV/agent.crt" ]; then
  say "making a self-signed certificate for localhost and 127.0.0.1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$DEV/agent.key" -out "$DEV/agent.crt" -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
  chmod 600 "$DEV/agent.key"
fi
cat > "$DEV/agent-config.yaml" <<YAML
# Development config written by scripts/demo.sh. Not for production: see
# examples/agent-config.yaml and scripts/setup-agent.sh.
port: $PORT
bind_address: 127.0.0.1
tls_cert_file: $DEV/agent.crt
tls_key_file: $DEV/agent.key
hmac_secret_file: $DEV/hmac-secret
allowed_controllers: [dev-controller]
allowed_images: [$IMAGE]
default_image: $IMAGE
run_as_user: root
run_as_group: root
audit_db_path: $DEV/agent-audit.db
default_timeout_seconds: 60
log_level: info
YAML
chmod 600 "$DEV/agent-config.yaml"
node dist/cmd/quickcmd.js agent check-config --config "$DEV/agent-config.yaml" >&2

say "starting the agent on https://127.0.0.1:$PORT (logs: $DEV/agent.log)"
node dist/cmd/quickcmd-agent.js --config "$DEV/agent-config.yaml" >"$DEV/agent.log" 2>&1 &
AGENT_PID=$!
stop_agent() { kill -TERM "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; }
trap stop_agent EXIT
for _ in $(seq 1 100); do
  grep -q '"agent listening"' "$DEV/agent.log" 2>/dev/null && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$DEV/agent.log" >&2; exit 1; }
  sleep 0.1
done

export QUICKCMD_AGENT="https://127.0.0.1:$PORT"
export QUICKCMD_CONTROLLER_ID=dev-controller
export QUICKCMD_SECRET_FILE="$DEV/hmac-secret"
export QUICKCMD_CA_FILE="$DEV/agent.crt"
say "running a demo job: quickcmd run -- 'for i in 1 2 3; do echo tick \$i; sleep 1; done; id; uname -a'"
set +e
node dist/cmd/quickcmd.js run -- 'for i in 1 2 3; do echo "tick $i"; sleep 1; done; id; uname -a'
code=$?
set -e
say "the job exited with $code"
if [ "$EXIT_AFTER" = "1" ]; then exit "$code"; fi
say "the agent keeps running; in another shell:"
cat >&2 <<TXT
  export QUICKCMD_AGENT=$QUICKCMD_AGENT QUICKCMD_CONTROLLER_ID=dev-controller \\
         QUICKCMD_SECRET_FILE=$DEV/hmac-secret QUICKCMD_CA_FILE=$DEV/agent.crt
  node dist/cmd/quickcmd.js run -- 'echo hello from the sandbox'
TXT
say "Ctrl-C stops it"
wait "$AGENT_PID"
