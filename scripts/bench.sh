#!/usr/bin/env bash
# `npm run bench [-- --quick] [-- --json] [-- --only=latency,door] [-- --cpu-prof]`:
# prepares Docker and the sandbox image, builds, then runs bench/main.ts from dist/ (the
# agent under bench is the built daemon in its own process). Not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund >&2
bash scripts/docker-up.sh >/dev/null
npm run --silent build >&2
exec node dist/bench/main.js "$@"
