#!/usr/bin/env bash
# Makes the Pulumi engine ready for this project, idempotently:
#   - a compatible `pulumi` already on PATH is used as it is;
#   - otherwise the CLI, the Node.js language host and the command provider are built from
#     their Go modules into a cache outside the repo, keyed by the pinned versions;
#   - the command provider is registered with `pulumi plugin install … --file`.
# Pulumi's own download servers are unreachable here: nothing in this script downloads a
# prebuilt binary, only Go modules.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/engine-env.sh"

log() { printf '[engine] %s\n' "$*" >&2; }
command_plugin_version="${COMMAND_VERSION#v}"
# The oldest engine the pinned @pulumi/pulumi SDK works with (README: "The engine").
min_pulumi="3.248.0"

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# Go settings for a closed network: the checksum database is unreachable, the proxy is not.
export GOFLAGS="-mod=mod -buildvcs=false"
export GOSUMDB=off
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export PATH="$PATH:/usr/local/go/bin"
# Module and build caches live beside the engine, outside the repo, so a version bump reuses them.
export GOMODCACHE="$CUTOVER_CACHE/go/mod" GOCACHE="$CUTOVER_CACHE/go/build"
ldflags_base="-s -w"

# Builds one Go main package from a throwaway wrapper module.
#   $1 name  $2 main package  $3 output  $4.. "-replace=…" (go mod edit) or "module@version" (go get)
build_main() {
  local name="$1" pkg="$2" out="$3"; shift 3
  local dir="$CUTOVER_ENGINE_DIR/src/$name"
  if [ -x "$out" ]; then log "$name: cached ($out)"; return; fi
  log "$name: building $pkg (this takes minutes the first time)"
  rm -rf "$dir" && mkdir -p "$dir"
  ( cd "$dir"
    go mod init "cutover.local/engine/$name" >/dev/null 2>&1
    local arg
    for arg in "$@"; do
      case "$arg" in
        -replace=*) go mod edit "$arg" ;;
        *) if ! go get "$arg" >get.log 2>&1; then cat get.log >&2; log "$name: cannot resolve $arg (above)"; exit 1; fi ;;
      esac
    done
    local started=$SECONDS
    # -x would be too loud; print a heartbeat so a human sees the build is alive.
    ( while sleep 30; do log "$name: still building ($((SECONDS - started)) s)"; done ) &
    local beat=$!
    trap 'kill $beat 2>/dev/null || true' EXIT
    if ! go build -trimpath -tags osusergo,grpcnotrace -ldflags "$LDFLAGS" -o "$out.tmp" "$pkg" >build.log 2>&1; then
      grep -v '^go: downloading' build.log >&2; log "$name: go build failed (above)"; exit 1
    fi
    mv "$out.tmp" "$out"
    log "$name: built in $((SECONDS - started)) s"
  )
}

command_plugin_installed() {
  pulumi plugin ls --json 2>/dev/null | node -e '
      const want = process.argv[1]; let s = ""; process.stdin.on("data", d => s += d);
      process.stdin.on("end", () => process.exit((JSON.parse(s || "[]") || []).some(p =>
        p.name === "command" && p.kind === "resource" && p.version === want) ? 0 : 1));' "$command_plugin_version"
}

# pulumi-command's provider is a Go module without tags; the module proxy reachable here
# answers 403 for it at every version and pseudo-version tried (see README "The engine").
# When it cannot be built, Cutover registers its own implementation of the same plugin
# (lib/engine/command-provider: local commands, and remote ones over the system's OpenSSH
# with pinned host keys), so @pulumi/command programs run for real. Set
# CUTOVER_COMMAND_PROVIDER=go to insist on the Go build and fail without it.
ensure_command_plugin() {
  local staged="$CUTOVER_ENGINE_DIR/provider/pulumi-resource-command"
  local kind_file="$CUTOVER_ENGINE_DIR/provider/kind"
  if command_plugin_installed && [ -f "$kind_file" ]; then
    log "command provider $command_plugin_version: installed ($(cat "$kind_file"))"
    return
  fi
  mkdir -p "$(dirname "$staged")" "$CUTOVER_ENGINE_DIR/bin"
  if LDFLAGS="$ldflags_base -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" \
      build_main command github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command "$staged" \
        "github.com/pulumi/pulumi-command/provider@$COMMAND_COMMIT"; then
    echo "go build of pulumi-command $COMMAND_VERSION" > "$kind_file"
  elif [ "${CUTOVER_COMMAND_PROVIDER:-}" = go ]; then
    log "command provider: the Go module cannot be had and CUTOVER_COMMAND_PROVIDER=go; stopping"
    exit 1
  else
    log "command provider: Go module unavailable (above); registering Cutover's implementation of the plugin"
    cat > "$staged" <<LAUNCHER
#!/bin/sh
# Cutover's implementation of the command provider plugin (see the README, "The engine").
root="\${CUTOVER_ROOT:-$CUTOVER_ROOT}"
main="\$root/dist/lib/engine/command-provider/main.js"
if [ ! -f "\$main" ]; then
  echo "command provider: \$main is missing: run \`npm run build\` in \$root" >&2
  exit 1
fi
exec node "\$main" "\$@"
LAUNCHER
    chmod +x "$staged"
    echo "Cutover's implementation (lib/engine/command-provider)" > "$kind_file"
  fi
  # Registered in the plugin cache under its exact version, never as an ambient binary on PATH.
  pulumi plugin install resource command "$command_plugin_version" --file "$staged" --reinstall >&2
  log "command provider $command_plugin_version: registered ($(cat "$kind_file"))"
}

existing="$(command -v pulumi || true)"
if [ -n "$existing" ] && [ "$existing" != "$CUTOVER_ENGINE_DIR/bin/pulumi" ]; then
  have="$(pulumi version 2>/dev/null | sed 's/^v//')"
  if version_ge "$have" "$min_pulumi"; then
    log "using pulumi $have found at $existing"
    ensure_command_plugin
    exit 0
  fi
  log "pulumi $have at $existing is older than $min_pulumi: building the pinned engine instead"
fi

mkdir -p "$CUTOVER_ENGINE_DIR/bin"
stamp="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
clipboard="-replace=github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e"
LDFLAGS="$ldflags_base $stamp" build_main cli github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  "$CUTOVER_ENGINE_DIR/bin/pulumi" \
  "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" \
  "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" "$clipboard"
# The language host comes from the sdk/v3 module at LANGHOST_SDK_VERSION (see
# engine-versions.sh for why); that sdk pins golang.org/x/text through a replace we copy.
LDFLAGS="$ldflags_base -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$LANGHOST_SDK_VERSION" \
  build_main language-nodejs github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
  "$CUTOVER_ENGINE_DIR/bin/pulumi-language-nodejs" \
  "-replace=golang.org/x/text=golang.org/x/text@v0.3.6" \
  "github.com/pulumi/pulumi/sdk/v3@$LANGHOST_SDK_VERSION"

. "$here/engine-env.sh"
log "pulumi $(pulumi version) at $(command -v pulumi)"
ensure_command_plugin
rm -rf "$CUTOVER_ENGINE_DIR/src"
log "ready: $(du -sh "$CUTOVER_ENGINE_DIR" | cut -f1) in $CUTOVER_ENGINE_DIR"
