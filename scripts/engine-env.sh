# Sourced by every project script that runs Pulumi: puts the project's engine first on PATH
# and makes the engine hermetic (no plugin downloads, no update checks, a DIY backend).
# Usage: . scripts/engine-env.sh
_cutover_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$_cutover_root/scripts/engine-versions.sh"
CUTOVER_CACHE="${CUTOVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cutover}"
CUTOVER_ENGINE_DIR="$CUTOVER_CACHE/engine/pulumi-${PULUMI_VERSION}_nodejs-${LANGHOST_SDK_VERSION}_command-${COMMAND_VERSION}"
CUTOVER_ROOT="$_cutover_root"
export CUTOVER_CACHE CUTOVER_ENGINE_DIR CUTOVER_ROOT
if [ -x "$CUTOVER_ENGINE_DIR/bin/pulumi" ]; then
  export PATH="$CUTOVER_ENGINE_DIR/bin:$PATH"
  export PULUMI_HOME="${PULUMI_HOME:-$CUTOVER_ENGINE_DIR/home}"
fi
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="${PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK:-false}"
# The dev stack needs no account: a file backend under the cache unless the user chose one.
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  mkdir -p "$CUTOVER_CACHE/state"
  export PULUMI_BACKEND_URL="file://$CUTOVER_CACHE/state"
fi
# Passphrase for the local stacks' secrets when none is given. This script cannot know the
# stack, so it says that it applied the default (CUTOVER_DEFAULT_PASSPHRASE=1) and the program
# refuses any stack that is not local (lib/engine/passphrase-policy.ts); other stacks set
# PULUMI_CONFIG_PASSPHRASE(_FILE) or a secrets provider.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE=cutover-dev CUTOVER_DEFAULT_PASSPHRASE=1
elif [ "${PULUMI_CONFIG_PASSPHRASE-}" != cutover-dev ]; then
  unset CUTOVER_DEFAULT_PASSPHRASE
fi
