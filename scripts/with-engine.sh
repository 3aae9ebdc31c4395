#!/usr/bin/env bash
# Runs a command with the project's Pulumi engine first on PATH and the hermetic settings
# of scripts/engine-env.sh (no plugin downloads, no update checks, a file:// backend).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/engine-env.sh"
if ! command -v pulumi >/dev/null; then
  echo "cutover: no pulumi engine found; run \`npm run engine\` first" >&2
  exit 1
fi
exec "$@"
