#!/usr/bin/env bash
# `npm run demo -- --fleet` (README "Fleet"): a broker and three agents with labels on
# this host, reached only through the broker (listen: false), then one fan-out by
# selector. Everything lives in ./.dev/fleet and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEV="$ROOT/.dev/fleet"
say() { printf '\033[1m[fleet]\033[0m %s\n' "$*" >&2; }
Q() { node "$ROOT/dist/cmd/quickcmd.js" "$@"; }

[ -d node_modules ] || { say "installing dependencies (npm ci)"; npm ci --no-audit --no-fund >/dev/null; }
say "preparing the Docker engine and the sandbox image"
IMAGE=$(bash scripts/docker-up.sh)
say "building"
npm run --silent build

rm -rf "$DEV"
mkdir -p "$DEV/broker/users" "$DEV/creds"
chmod 700 "$DEV" "$DEV/creds"
(umask 077 && Q agent gen-key > "$DEV/hmac-secret")

say "1. credentials: quickcmd broker add-agent web1|web2|db1, add-controller dev-controller"
for a in web1 web2 db1; do Q broker add-agent "$a" --out "$DEV/creds" 2>/dev/null | sed '/^#/d' > "$DEV/broker/users/agent-$a.json"; done
Q broker add-controller dev-controller --out "$DEV/creds" 2>/dev/null | sed '/^#/d' > "$DEV/broker/users/controller.json"

say "2. broker: scripts/nats-up.sh (nats-server on 127.0.0.1, random port, TLS from a throwaway CA)"
read -r URL CA NATS_PID < <(bash scripts/nats-up.sh "$DEV/broker")
say "   broker at $URL"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  bash scripts/nats-up.sh "$DEV/broker" --stop
}
trap cleanup EXIT

say "3. agents: three agents dial out to the broker; none listens on a port"
start_agent() {
  local name=$1 labels=$2
  cat > "$DEV/$name.yaml" <<YAML
agent_name: $name
labels: $labels
listen: false
broker: { url: "$URL", ca_file: "$CA", nkey_seed_file: "$DEV/creds/agent-$name.nk" }
hmac_secret_file: $DEV/hmac-secret
allowed_controllers: [dev-controller]
allowed_images: [$IMAGE]
default_image: $IMAGE
run_as_user: root
run_as_group: root
audit_db_path: $DEV/$name.db
log_level: info
YAML
  chmod 600 "$DEV/$name.yaml"
  node dist/cmd/quickcmd-agent.js --config "$DEV/$name.yaml" >"$DEV/$name.log" 2>&1 &
  PIDS+=($!)
}
start_agent web1 '{ role: web, zone: a }'
start_agent web2 '{ role: web, zone: b }'
start_agent db1 '{ role: db, zone: a }'

say "4. controller: the broker settings and this controller's identity"
export QUICKCMD_BROKER="$URL" QUICKCMD_BROKER_CA="$CA" QUICKCMD_BROKER_CREDS="$DEV/creds/controller-dev-controller.nk"
export QUICKCMD_CONTROLLER_ID=dev-controller QUICKCMD_SECRET_FILE="$DEV/hmac-secret"
for _ in $(seq 1 100); do
  [ "$(Q agents --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))')" = 3 ] && break
  sleep 0.2
done
say "quickcmd agents"
Q agents
say "quickcmd run --selector role=web -- 'echo hello from \$(hostname); id -u'"
set +e
Q run --selector role=web -- 'echo "hello from $(hostname)"; id -u'
code=$?
set -e
say "the fan-out exited with $code"
exit "$code"
