#!/usr/bin/env bash
# A throwaway QuickCMD broker for development, tests and the fleet demo (SPEC §10), like
# docker-up.sh does for dockerd: installs Debian's nats-server if missing (apt, under
# flock /work/apt.lock when that exists), makes a CA and a server certificate with
# openssl, and starts nats-server on 127.0.0.1 with a random port, TLS, and the user
# blocks found in DIR/users/*.json (from `quickcmd broker add-agent|add-controller`).
# Idempotent: a broker already running from DIR is reused. Prints `URL CA_FILE PID`.
#
#   scripts/nats-up.sh DIR          start (or reuse) the broker of DIR
#   scripts/nats-up.sh DIR --stop   stop it
set -euo pipefail
DIR=${1:?usage: nats-up.sh DIR [--stop]}
mkdir -p "$DIR/users"
chmod 700 "$DIR"
PIDFILE="$DIR/nats.pid"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

if [ "${2:-}" = "--stop" ]; then
  if running; then kill -TERM "$(cat "$PIDFILE")"; fi
  rm -f "$PIDFILE"
  exit 0
fi

BIN=$(command -v nats-server || true)
[ -z "$BIN" ] && [ -x /usr/sbin/nats-server ] && BIN=/usr/sbin/nats-server
if [ -z "$BIN" ]; then
  echo "nats-up: installing nats-server (Debian package)" >&2
  if [ -e /work/apt.lock ] || [ -w /work ]; then LOCK=(flock /work/apt.lock); else LOCK=(); fi
  "${LOCK[@]}" apt-get install -y nats-server >&2 || { "${LOCK[@]}" apt-get update >&2 && "${LOCK[@]}" apt-get install -y nats-server >&2; }
  BIN=$(command -v nats-server || echo /usr/sbin/nats-server)
fi

if running; then
  echo "$(cat "$DIR/url") $DIR/ca.crt $(cat "$PIDFILE")"
  exit 0
fi

if [ ! -f "$DIR/server.crt" ]; then
  (cd "$DIR" && umask 077 &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -keyout ca.key -out ca.crt \
      -subj "/CN=QuickCMD dev broker CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" >/dev/null 2>&1 &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext &&
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 -extfile server.ext >/dev/null 2>&1)
  chmod 644 "$DIR/ca.crt"
fi

# nats-server config arrays take newline-separated items.
USERS=$(for f in "$DIR"/users/*.json; do if [ -f "$f" ]; then cat "$f"; fi; done)
cat > "$DIR/nats-server.conf" <<CONF
# Written by scripts/nats-up.sh (development broker); see deployments/nats/nats-server.conf.
listen: "127.0.0.1:-1"
max_payload: 1048576
tls { cert_file: "$DIR/server.crt", key_file: "$DIR/server.key", timeout: 5 }
authorization { users: [
${USERS}
] }
CONF
"$BIN" -c "$DIR/nats-server.conf" >"$DIR/nats.log" 2>&1 &
echo $! > "$PIDFILE"
for _ in $(seq 1 200); do
  PORT=$(sed -n 's/.*Listening for client connections on [^ ]*:\([0-9]*\).*/\1/p' "$DIR/nats.log" | head -1)
  [ -n "$PORT" ] && break
  running || { cat "$DIR/nats.log" >&2; exit 1; }
  sleep 0.05
done
[ -n "${PORT:-}" ] || { echo "nats-up: nats-server did not start" >&2; cat "$DIR/nats.log" >&2; exit 1; }
echo "tls://127.0.0.1:$PORT" > "$DIR/url"
echo "tls://127.0.0.1:$PORT $DIR/ca.crt $(cat "$PIDFILE")"
