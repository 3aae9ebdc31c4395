#!/usr/bin/env bash
# Writes the Node.js SDK of Cutover's package into DIR, generated from the schema the built
# plugin serves: what `pulumi package add` does for a TypeScript program (examples/sdk), with
# the generator scripts/engine.sh builds (cutover-sdkgen).
# Usage: npm run sdk [-- DIR]   (default examples/sdk/sdk)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/examples/sdk/sdk}"
schema="$(mktemp)"
trap 'rm -f "$schema"' EXIT
pulumi package get-schema "$root/scripts/plugin/pulumi-resource-cutover" > "$schema"
rm -rf "$out"
cutover-sdkgen "$schema" "$out"
echo "cutover: the SDK of the cutover package is in $out"
