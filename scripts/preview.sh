#!/usr/bin/env bash
# `npm run preview -- [stack]`: what `pulumi up` would do, with the diff — which hosts cycle
# in which batch (app-rollout-batch<N>-<host>-… steps, and the rolloutPlan output).
# Run through with-engine.sh (npm run preview does). Default stack: dev.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stack="${1:-dev}"
pulumi stack select "$stack" --non-interactive 2>/dev/null || pulumi stack init "$stack" --non-interactive
exec pulumi preview --diff --non-interactive --stack "$stack"
