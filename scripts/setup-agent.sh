#!/usr/bin/env bash
# Install (or remove) the QuickCMD agent on a host (SPEC §9). Idempotent: a second run
# changes nothing an operator made or edited. It never overwrites an existing config,
# secret or TLS key; it does refresh the program, the wrappers and the unit, and puts the
# modes of its directories and secrets back to what the agent's permission checks expect.
#
#   sudo scripts/setup-agent.sh                 install into /
#   scripts/setup-agent.sh --root DIR           install into DIR (tests, image builds)
#   sudo scripts/setup-agent.sh --uninstall     remove the program, wrappers and unit;
#                                               keep /etc/quickcmd and /var/lib/quickcmd
#   sudo scripts/setup-agent.sh --uninstall --purge   remove those too, and the user
#
# --root DIR prefixes every path with DIR. Files written there still name host paths
# (the config says /etc/quickcmd/hmac-secret, the unit /usr/local/bin/quickcmd-agent),
# so DIR is exactly what a real host would get. Whatever needs the real host is skipped
# and reported: user and group creation, ownership (files belong to the caller), and
# systemctl. It needs no root privileges.
#
# Installs from the checkout the script lives in: run `npm ci && npm run build` first.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
UNINSTALL=0
PURGE=0
HOST_NAME=""

# Host paths (as the running agent and the unit see them).
APP_DIR=/opt/quickcmd
BIN_DIR=/usr/local/bin
CONF_DIR=/etc/quickcmd
STATE_DIR=/var/lib/quickcmd
UNIT_PATH=/etc/systemd/system/quickcmd-agent.service
CONFIG=$CONF_DIR/agent-config.yaml
SECRET=$CONF_DIR/hmac-secret
TLS_KEY=$CONF_DIR/agent.key
TLS_CERT=$CONF_DIR/agent.crt
USER_NAME=quickcmd
GROUP_NAME=quickcmd
DOCKER_GROUP=docker
# First line of every wrapper: uninstall removes only files carrying it.
WRAPPER_MARK='# Installed by QuickCMD scripts/setup-agent.sh'

usage() {
  cat <<EOF
Usage: $(basename "$0") [--root DIR] [--hostname NAME] [--uninstall [--purge]]

  --root DIR       install into DIR instead of /; skips users, groups, ownership and systemctl
  --hostname NAME  name for the TLS certificate (default: this host's name)
  --uninstall      remove the program, wrappers and unit; keep config and data
  --purge          with --uninstall: also remove $CONF_DIR, $STATE_DIR and the $USER_NAME user
  -h, --help       this text
EOF
}

log() { printf '[setup-agent] %s\n' "$*"; }
skip() { printf '[setup-agent] skipped (--root): %s\n' "$*"; }
die() { printf '[setup-agent] error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT="$2"; shift 2 ;;
    --root=*) ROOT="${1#--root=}"; shift ;;
    --hostname) [ $# -ge 2 ] || die "--hostname needs a name"; HOST_NAME="$2"; shift 2 ;;
    --hostname=*) HOST_NAME="${1#--hostname=}"; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ "$PURGE" -eq 0 ] || [ "$UNINSTALL" -eq 1 ] || { echo "--purge only goes with --uninstall" >&2; exit 2; }

# The name goes into openssl's -subj and -addext: DNS characters only.
valid_host() { [[ "$1" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; }
[ -z "$HOST_NAME" ] || valid_host "$HOST_NAME" || die "host name '$HOST_NAME' is not a DNS name"

if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT"
  ROOT="$(cd "$ROOT" && pwd)"
  [ "$ROOT" != / ] || ROOT=""
fi
REAL_HOST=0
[ -n "$ROOT" ] || REAL_HOST=1
if [ "$REAL_HOST" -eq 1 ] && [ "$(id -u)" -ne 0 ]; then
  die "installing into / needs root (or use --root DIR)"
fi
# Nothing this script creates is meant for other users unless it says so.
umask 077

p() { printf '%s%s' "$ROOT" "$1"; }

systemd_running() { [ "$REAL_HOST" -eq 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

# Ownership only means something on the real host; under --root the caller keeps the files.
own() {
  local owner="$1"; shift
  if [ "$REAL_HOST" -eq 1 ]; then chown "$owner" "$@"; fi
}

# ---------------------------------------------------------------------------------------
uninstall() {
  if systemd_running; then
    log "stopping and disabling quickcmd-agent"
    systemctl disable --now quickcmd-agent.service >/dev/null 2>&1 || true
  elif [ "$REAL_HOST" -eq 0 ]; then
    skip "systemctl disable --now quickcmd-agent"
  fi
  rm -f "$(p "$UNIT_PATH")"
  for w in quickcmd-agent quickcmd; do
    local f; f="$(p "$BIN_DIR/$w")"
    if [ -f "$f" ] && grep -qxF "$WRAPPER_MARK" "$f"; then rm -f "$f"; fi
  done
  rm -rf "$(p "$APP_DIR")" "$(p "$APP_DIR").old"
  log "removed $APP_DIR, $BIN_DIR/quickcmd-agent, $BIN_DIR/quickcmd, $UNIT_PATH"
  if systemd_running; then systemctl daemon-reload; fi
  if [ "$PURGE" -eq 1 ]; then
    rm -rf "$(p "$CONF_DIR")" "$(p "$STATE_DIR")"
    log "purged $CONF_DIR and $STATE_DIR"
    if [ "$REAL_HOST" -eq 1 ]; then
      if getent passwd "$USER_NAME" >/dev/null; then userdel "$USER_NAME"; log "removed user $USER_NAME"; fi
      if getent group "$GROUP_NAME" >/dev/null; then groupdel "$GROUP_NAME"; log "removed group $GROUP_NAME"; fi
    else
      skip "removing user and group $USER_NAME"
    fi
    log "kept group $DOCKER_GROUP (Docker's own)"
  else
    log "kept $CONF_DIR and $STATE_DIR (use --purge to remove them)"
  fi
}

if [ "$UNINSTALL" -eq 1 ]; then
  uninstall
  exit 0
fi

# ---------------------------------------------------------------------------------------
# Preconditions: everything is checked before anything is written.
NODE_BIN="$(command -v node || true)"
[ -n "$NODE_BIN" ] || die "node (>= 20) is not on PATH"
"$NODE_BIN" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "$NODE_BIN is Node $("$NODE_BIN" --version); the agent needs 20 or later"
case "$NODE_BIN" in
  /root/*|/home/*|/run/user/*)
    log "warning: $NODE_BIN is in a home directory, which the unit hides (ProtectHome=yes); install Node system-wide" ;;
esac
command -v openssl >/dev/null 2>&1 || die "openssl is needed for the secret and the TLS certificate"
for f in package.json package-lock.json dist/cmd/quickcmd-agent.js dist/cmd/quickcmd.js \
         node_modules examples/agent-config.yaml deployments/systemd/quickcmd-agent.service; do
  [ -e "$SRC/$f" ] || die "$SRC/$f is missing: run 'npm ci && npm run build' in $SRC first"
done

if [ -z "$HOST_NAME" ]; then
  HOST_NAME="$(timeout 5 hostname --fqdn 2>/dev/null || true)"
  [ -n "$HOST_NAME" ] && [ "$HOST_NAME" != localhost ] || HOST_NAME="$(uname -n)"
fi
valid_host "$HOST_NAME" || die "host name '$HOST_NAME' is not a DNS name; pass --hostname"
SHORT_NAME="${HOST_NAME%%.*}"

# ---------------------------------------------------------------------------------------
# Users and groups
if [ "$REAL_HOST" -eq 1 ]; then
  if ! getent group "$GROUP_NAME" >/dev/null; then groupadd --system "$GROUP_NAME"; log "created group $GROUP_NAME"; fi
  if ! getent passwd "$USER_NAME" >/dev/null; then
    nologin="$(command -v nologin || echo /usr/sbin/nologin)"
    useradd --system --gid "$GROUP_NAME" --home-dir "$STATE_DIR" --no-create-home \
      --shell "$nologin" --comment "QuickCMD agent" "$USER_NAME"
    log "created user $USER_NAME"
  fi
  if ! getent group "$DOCKER_GROUP" >/dev/null; then groupadd --system "$DOCKER_GROUP"; log "created group $DOCKER_GROUP"; fi
  if ! id -nG "$USER_NAME" | tr ' ' '\n' | grep -qxF "$DOCKER_GROUP"; then
    usermod -aG "$DOCKER_GROUP" "$USER_NAME"
    log "added $USER_NAME to $DOCKER_GROUP"
  fi
else
  skip "creating group $GROUP_NAME, user $USER_NAME and group $DOCKER_GROUP; adding $USER_NAME to $DOCKER_GROUP"
  skip "ownership (root:$GROUP_NAME, $USER_NAME): files belong to $(id -un)"
fi

# ---------------------------------------------------------------------------------------
# Directories. Modes are put back on every run: the agent's secret checks depend on them.
# Missing parents are made 0755 (not umask 077) so DIR is usable as a root file system;
# existing ones are left alone.
for d in /opt /usr /usr/local "$BIN_DIR" /etc /etc/systemd /etc/systemd/system /var /var/lib; do
  [ -d "$(p "$d")" ] || mkdir -m 0755 "$(p "$d")"
done
install -d -m 0750 "$(p "$CONF_DIR")"
chmod 0750 "$(p "$CONF_DIR")"
own "root:$GROUP_NAME" "$(p "$CONF_DIR")"
install -d -m 0700 "$(p "$STATE_DIR")"
chmod 0700 "$(p "$STATE_DIR")"
own "$USER_NAME:$GROUP_NAME" "$(p "$STATE_DIR")"

# ---------------------------------------------------------------------------------------
# The program: built output and production dependencies, copied (works offline) into a
# fresh directory that then replaces the old one, so a failed copy leaves the old intact.
app="$(p "$APP_DIR")"
stage="$app.new.$$"
rm -rf "$stage"
mkdir -p "$stage"
trap 'rm -rf "$stage"' EXIT
cp "$SRC/package.json" "$SRC/package-lock.json" "$stage/"
# "dir/." copies the contents even when dist or node_modules is a symlink; the prune below
# must only ever see the staged copy.
mkdir "$stage/dist" "$stage/node_modules"
cp -R "$SRC/dist/." "$stage/dist/"
# The build marks the entry points executable for development; installed, they are run
# through the wrappers, so program files are plain 0644 data.
find "$stage/dist" -type f -exec chmod 0644 {} +
cp -R "$SRC/node_modules/." "$stage/node_modules/"
if command -v npm >/dev/null 2>&1 && [ ! -L "$stage/node_modules" ] \
  && (cd "$stage" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund >/dev/null 2>&1); then
  :
else
  log "warning: could not prune development dependencies; installed all of node_modules"
fi
# Readable by the agent's user, writable by root only.
chmod -R u+rwX,go+rX,go-w "$stage"
chmod 0755 "$stage"
if [ "$REAL_HOST" -eq 1 ]; then chown -R root:root "$stage"; fi
if [ -e "$app" ]; then
  rm -rf "$app.old"
  mv "$app" "$app.old"
fi
mv "$stage" "$app"
rm -rf "$app.old"
trap - EXIT
log "installed the program in $APP_DIR"

for w in quickcmd-agent quickcmd; do
  f="$(p "$BIN_DIR/$w")"
  printf '#!/bin/sh\n%s\nexec %s %s/dist/cmd/%s.js "$@"\n' "$WRAPPER_MARK" "$NODE_BIN" "$APP_DIR" "$w" > "$f.tmp"
  chmod 0755 "$f.tmp"
  mv -f "$f.tmp" "$f"
done
log "installed $BIN_DIR/quickcmd-agent and $BIN_DIR/quickcmd (node: $NODE_BIN)"

# ---------------------------------------------------------------------------------------
# Config, secret, TLS: created when missing, never overwritten.
if [ -e "$(p "$CONFIG")" ]; then
  log "kept existing $CONFIG"
else
  install -m 0640 "$SRC/examples/agent-config.yaml" "$(p "$CONFIG")"
  own "root:$GROUP_NAME" "$(p "$CONFIG")"
  log "wrote $CONFIG from examples/agent-config.yaml"
fi

# The secret the shipped config names; an operator's config pointing elsewhere gets none.
if grep -qE "^hmac_secret_file:[[:space:]]*[\"']?${SECRET}[\"']?[[:space:]]*(#.*)?$" "$(p "$CONFIG")"; then
  if [ -e "$(p "$SECRET")" ]; then
    log "kept existing $SECRET"
  else
    tmp="$(p "$SECRET").tmp.$$"
    openssl rand -hex 32 > "$tmp"
    # Group read for the agent's group only: the config loader refuses any other group.
    chmod 0640 "$tmp"
    own "root:$GROUP_NAME" "$tmp"
    mv "$tmp" "$(p "$SECRET")"
    log "generated $SECRET (32 random bytes as hex); give the same secret to your controllers"
  fi
fi

key="$(p "$TLS_KEY")"
crt="$(p "$TLS_CERT")"
sans="DNS:$HOST_NAME"
[ "$SHORT_NAME" = "$HOST_NAME" ] || sans="$sans,DNS:$SHORT_NAME"
sans="$sans,DNS:localhost,IP:127.0.0.1"
# CA:FALSE: a controller that trusts this self-signed certificate must not thereby trust
# anything else this key could sign.
cert_ext=(-addext "subjectAltName=$sans" -addext "basicConstraints=critical,CA:FALSE"
          -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth")
if [ -e "$key" ] && [ -e "$crt" ]; then
  log "kept existing $TLS_KEY and $TLS_CERT"
elif [ -e "$crt" ]; then
  log "warning: $TLS_CERT exists without $TLS_KEY; left as is (the agent will not start until the key is there)"
elif [ -e "$key" ]; then
  openssl req -x509 -key "$key" -days 825 -subj "/CN=$HOST_NAME" "${cert_ext[@]}" -out "$crt.tmp" 2>/dev/null
  chmod 0644 "$crt.tmp"
  own root:root "$crt.tmp"
  mv "$crt.tmp" "$crt"
  log "made $TLS_CERT from the existing key (SANs $sans)"
else
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=$HOST_NAME" "${cert_ext[@]}" -keyout "$key.tmp" -out "$crt.tmp" 2>/dev/null
  chmod 0640 "$key.tmp"
  own "root:$GROUP_NAME" "$key.tmp"
  chmod 0644 "$crt.tmp"
  own root:root "$crt.tmp"
  mv "$key.tmp" "$key"
  mv "$crt.tmp" "$crt"
  log "made a self-signed TLS key and certificate (SANs $sans); controllers must trust $TLS_CERT"
fi

# ---------------------------------------------------------------------------------------
# The unit is ours and refreshed every run; local changes belong in a drop-in.
install -m 0644 "$SRC/deployments/systemd/quickcmd-agent.service" "$(p "$UNIT_PATH")"
own root:root "$(p "$UNIT_PATH")"
log "installed $UNIT_PATH"

if systemd_running; then
  systemctl daemon-reload
  if systemctl is-active --quiet quickcmd-agent.service; then
    # Not restarted here: that would stop running jobs at a moment the operator did not choose.
    log "systemd reloaded; the running agent still uses the old program: systemctl restart quickcmd-agent"
  else
    log "systemd reloaded; start with: systemctl enable --now quickcmd-agent"
  fi
elif [ "$REAL_HOST" -eq 1 ]; then
  log "systemd is not running here: no daemon-reload; start the agent with $BIN_DIR/quickcmd-agent"
else
  skip "systemctl daemon-reload"
fi
log "done; check the config with: $BIN_DIR/quickcmd agent check-config --config $CONFIG"
