#!/usr/bin/env bash
# The one test command (README: `npm test`): prepares Docker and the sandbox image,
# builds, then runs every test file with node:test. Docker tests fail (never skip) when the
# engine cannot be prepared.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/docker-up.sh >/dev/null
npm run --silent build
mapfile -t files < <(find test -name '*.test.ts' | sort)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files" >&2; exit 1; fi
exec node --import tsx --test --test-concurrency="${QUICKCMD_TEST_CONCURRENCY:-2}" --test-timeout=600000 "$@" "${files[@]}"
