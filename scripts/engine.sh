#!/usr/bin/env bash
# Makes the Pulumi engine ready for this project, idempotently:
#   - a compatible `pulumi` already on PATH is used as it is;
#   - otherwise the CLI and the Node.js language host are built from their Go modules into a
#     cache outside the repo, keyed by the pinned versions, from the wrapper modules committed
#     in scripts/engine/<part>/ (go.mod + go.sum): every module is checked against that go.sum,
#     and the module cache against the hashes recorded at download (`go mod verify`), before
#     anything is compiled;
#   - the command provider is registered with `pulumi plugin install … --file`.
# Pulumi's own download servers are unreachable here: nothing in this script downloads a
# prebuilt binary, only Go modules.
#
# Usage: engine.sh                 make the engine ready (the default)
#        engine.sh build <part>    build one part (cli | language-nodejs | language-yaml | sdkgen) if it is missing
#        engine.sh verify          check the Go module cache against the committed go.sum files
#        engine.sh pin [part]      regenerate scripts/engine/*/go.{mod,sum} after a version bump
#                                  (needs the checksum database: this is where sums are trusted)
# CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS=1 builds without any checksum verification (loudly).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/engine-env.sh"

log() { printf '[engine] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
command_plugin_version="${COMMAND_VERSION#v}"
# The oldest engine the pinned @pulumi/pulumi SDK works with (README: "The engine").
min_pulumi="3.248.0"
# The committed wrapper modules, one per part.
modules_dir="$here/engine"

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

insecure=""
case "${CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS:-}" in
  "") ;;
  1) insecure=1 ;;
  *) die "CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS must be 1 or unset (it is \"$CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS\")" ;;
esac
insecure_warning() {
  [ -n "$insecure" ] || return 0
  local bar='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
  printf '%s\n' "$bar" \
    "!! CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS=1: MODULE CHECKSUMS ARE NOT VERIFIED." \
    "!! The engine that decrypts every secret of your stacks is built from whatever the" \
    "!! module proxy and the module cache hold, without comparing them to the committed" \
    "!! go.sum. Binaries built this way are rebuilt by the next run without the flag." \
    "$bar" >&2
}

# Go settings. The committed go.sum is the authority: with -mod=readonly a module missing from
# it, or whose hash differs, stops the build, and a module listed in it never needs the checksum
# database (so a closed network that reaches only the module proxy still builds). GOENV=off
# drops per-user go env files, which could exempt modules from checksum checks
# (GONOSUMDB, GOPRIVATE, GOINSECURE); the user's module proxy and checksum database are kept.
go_setup() {
  [ -z "${_cutover_go_ready:-}" ] || return 0
  _cutover_go_ready=1
  export PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || die "no Go toolchain found (go 1.25 or later builds the engine)"
  local proxy sumdb
  proxy="$(go env GOPROXY)"
  sumdb="$(go env GOSUMDB)"
  export GOENV=off GOPROXY="$proxy"
  unset GONOSUMDB GOPRIVATE GOINSECURE GONOPROXY GOSUMDB
  if [ -n "$insecure" ]; then
    export GOSUMDB=off
  elif [ "$sumdb" = off ]; then
    log "ignoring GOSUMDB=off from the Go environment (CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS=1 is the explicit switch)"
  elif [ -n "$sumdb" ]; then
    export GOSUMDB="$sumdb"
  fi
  export GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
  # Module and build caches live beside the engine, outside the repo, so a version bump reuses them.
  export GOMODCACHE="${CUTOVER_GOMODCACHE:-$CUTOVER_CACHE/go/mod}" GOCACHE="${CUTOVER_GOCACHE:-$CUTOVER_CACHE/go/build}"
}

ldflags_base="-s -w"
build_tags="osusergo,grpcnotrace"

# What each part is built from. Sets: pkg, out, ldflags, pins ("module@version" the wrapper
# requires, checked against engine-versions.sh), replaces (go mod edit -replace=…).
part_spec() {
  case "$1" in
    cli)
      pkg=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
      out="$CUTOVER_ENGINE_DIR/bin/pulumi"
      ldflags="$ldflags_base -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
      pins="github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
      replaces="-replace=github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e"
      ;;
    language-nodejs)
      # From the sdk/v3 module at LANGHOST_SDK_VERSION (see engine-versions.sh for why); that
      # sdk pins golang.org/x/text through a replace we copy.
      pkg=github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
      # Beside bin/, not in it: bin/ holds its launcher (install_langhost_launcher).
      out="$CUTOVER_ENGINE_DIR/libexec/pulumi-language-nodejs"
      ldflags="$ldflags_base -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$LANGHOST_SDK_VERSION"
      pins="github.com/pulumi/pulumi/sdk/v3@$LANGHOST_SDK_VERSION"
      replaces="-replace=golang.org/x/text=golang.org/x/text@v0.3.6"
      ;;
    language-yaml)
      # The YAML language host: a YAML program uses the package (lib/package) like any other.
      pkg=github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
      out="$CUTOVER_ENGINE_DIR/bin/pulumi-language-yaml"
      ldflags="$ldflags_base -X github.com/pulumi/pulumi-yaml/pkg/version.Version=$YAML_VERSION"
      pins="github.com/pulumi/pulumi-yaml@$YAML_VERSION"
      replaces=""
      ;;
    sdkgen)
      # Cutover's own main.go beside its go.mod: the Node.js SDK of a package schema, with
      # Pulumi's code generator at the CLI's version (the v3.68 Node.js host cannot generate).
      pkg=.
      out="$CUTOVER_ENGINE_DIR/bin/cutover-sdkgen"
      ldflags="$ldflags_base"
      pins="github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION"
      replaces=""
      ;;
    *) die "unknown part \"$1\" (cli | language-nodejs | language-yaml | sdkgen)" ;;
  esac
}
parts="cli language-nodejs language-yaml sdkgen"
# The parts `pin` regenerates from scratch; sdkgen's module holds code: after a version bump,
# `go get github.com/pulumi/pulumi/pkg/v3@<version> && go mod tidy` in its directory.
pinned_parts="cli language-nodejs language-yaml"

# Identity of a committed wrapper module (and its code, if any): a binary is reused only if built from exactly it.
pin_id() { cat "$1/go.mod" "$1/go.sum" $(ls "$1"/*.go 2>/dev/null) | sha256sum | cut -d' ' -f1; }

check_module() {
  local name="$1" mod="$modules_dir/$1" pin
  [ -f "$mod/go.mod" ] && [ -f "$mod/go.sum" ] ||
    die "$name: $mod/go.mod and go.sum are missing: they pin the engine's modules and their checksums"
  for pin in $pins; do
    grep -qE "^[[:space:]]*(require )?${pin%@*} ${pin#*@}( |$)" "$mod/go.mod" ||
      die "$name: $mod/go.mod does not require $pin (engine-versions.sh): run \`bash scripts/engine.sh pin\` and commit the result"
  done
}

# Builds one part from its committed wrapper module, unless built from that module already.
build_part() {
  local name="$1" pkg out ldflags pins replaces
  part_spec "$name"
  check_module "$name"
  local mod="$modules_dir/$name" marker="$CUTOVER_ENGINE_DIR/verified/$name" work="$CUTOVER_ENGINE_DIR/src/$name"
  local want
  want="go.sum $(pin_id "$mod")"
  if [ -x "$out" ] && [ "$(cat "$marker" 2>/dev/null)" = "$want" ]; then
    log "$name: cached ($out)"
    return
  fi
  # A binary not built from the committed go.sum is not trusted: it goes, even if the build fails.
  [ -e "$out" ] && log "$name: $out was not built from $mod/go.sum as committed: rebuilding"
  rm -f "$marker" "$out"
  go_setup
  rm -rf "$work" && mkdir -p "$work" "$(dirname "$marker")" "$(dirname "$out")"
  local src="$mod"
  if [ -n "$insecure" ]; then
    insecure_warning
    src="$work/module"
    mkdir -p "$src" && cp "$mod/go.mod" "$src/" && cp "$mod"/*.go "$src/" 2>/dev/null || true
    want="insecure: built without checksum verification"
  fi
  ( cd "$src"
    if [ -n "$insecure" ]; then export GOFLAGS="-mod=mod -buildvcs=false"; fi
    log "$name: fetching modules ($([ -n "$insecure" ] && echo "NO checksum checks" || echo "each checked against $mod/go.sum"))"
    if ! go list -deps -tags "$build_tags" "$pkg" >/dev/null 2>"$work/fetch.log"; then
      grep -v '^go: downloading' "$work/fetch.log" >&2
      die "$name: fetching the modules or checking them against go.sum failed (above); nothing was compiled"
    fi
    if [ -z "$insecure" ]; then
      log "$name: verifying the module cache $GOMODCACHE (go mod verify)"
      if ! go mod verify >"$work/verify.log" 2>&1; then
        cat "$work/verify.log" >&2
        die "$name: CHECKSUM VERIFICATION FAILED: files in the Go module cache differ from what was" \
          "downloaded and checked (above); nothing was compiled. Remove the modules named above" \
          "(chmod -R u+w DIR && rm -rf DIR) or the whole cache (GOMODCACHE=$GOMODCACHE go clean -modcache) and run again."
      fi
    fi
    log "$name: compiling $pkg (this takes minutes the first time)"
    local started=$SECONDS
    # -x would be too loud; print a heartbeat so a human sees the build is alive.
    ( while sleep 30; do log "$name: still building ($((SECONDS - started)) s)"; done ) &
    local beat=$!
    trap 'kill $beat 2>/dev/null || true' EXIT
    if ! go build -trimpath -tags "$build_tags" -ldflags "$ldflags" -o "$out.tmp" "$pkg" >"$work/build.log" 2>&1; then
      grep -v '^go: downloading' "$work/build.log" >&2; die "$name: go build failed (above)"
    fi
    mv "$out.tmp" "$out"
    log "$name: built in $((SECONDS - started)) s"
  )
  echo "$want" > "$marker"
  insecure_warning
}

# `go mod verify` for every committed wrapper module against the current module cache.
verify_all() {
  go_setup
  local name pkg out ldflags pins replaces failed=0
  for name in $parts; do
    part_spec "$name"
    check_module "$name"
    if (cd "$modules_dir/$name" && go mod verify >&2); then
      log "$name: module cache matches $modules_dir/$name/go.sum"
    else
      log "$name: CHECKSUM VERIFICATION FAILED (above)"; failed=1
    fi
  done
  return "$failed"
}

# Regenerates the wrapper modules from engine-versions.sh. The checksum database vouches for
# every new go.sum line (never run with checksums off): review and commit the result.
pin_all() {
  [ -z "$insecure" ] || die "refusing to pin checksums with CUTOVER_ENGINE_INSECURE_NO_CHECKSUMS=1"
  go_setup
  [ "${GOSUMDB:-}" != off ] || die "pin needs the checksum database"
  local name pkg out ldflags pins replaces tmp r p
  for name in ${1:-$pinned_parts}; do
    part_spec "$name"
    tmp="$(mktemp -d)"
    ( cd "$tmp"
      export GOFLAGS="-mod=mod -buildvcs=false"
      go mod init "cutover.local/engine/$name" 2>/dev/null
      for r in $replaces; do go mod edit "$r"; done
      # shellcheck disable=SC2086
      go get $pins
      go mod edit -tool="$pkg" -go=1.24
      go mod tidy
    ) || { rm -rf "$tmp"; die "$name: pinning failed (above)"; }
    mkdir -p "$modules_dir/$name"
    for p in go.mod go.sum; do mv "$tmp/$p" "$modules_dir/$name/$p"; done
    rm -rf "$tmp"
    log "$name: pinned $pins in $modules_dir/$name ($(wc -l < "$modules_dir/$name/go.sum") go.sum lines)"
  done
}

command_plugin_installed() {
  pulumi plugin ls --json 2>/dev/null | node -e '
      const want = process.argv[1]; let s = ""; process.stdin.on("data", d => s += d);
      process.stdin.on("end", () => process.exit((JSON.parse(s || "[]") || []).some(p =>
        p.name === "command" && p.kind === "resource" && p.version === want) ? 0 : 1));' "$command_plugin_version"
}

# Tries the Go build of pulumi-command's provider. Its module has no tags, so it cannot be
# pinned in a committed go.sum; it is resolved in a throwaway module where every new module is
# checked against the checksum database (never with checksums off, unless the insecure flag).
build_command_provider() {
  local out="$1" work="$CUTOVER_ENGINE_DIR/src/command"
  go_setup
  rm -rf "$work" && mkdir -p "$work"
  ( cd "$work"
    export GOFLAGS="-mod=mod -buildvcs=false"
    go mod init cutover.local/engine/command >/dev/null 2>&1
    if ! go get "github.com/pulumi/pulumi-command/provider@$COMMAND_COMMIT" >get.log 2>&1; then
      cat get.log >&2; die "command: cannot resolve github.com/pulumi/pulumi-command/provider@$COMMAND_COMMIT (above)"
    fi
    if [ -z "$insecure" ]; then go mod verify >&2 || die "command: CHECKSUM VERIFICATION FAILED (above)"; fi
    go build -trimpath -ldflags "$ldflags_base -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" \
      -o "$out.tmp" github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command >build.log 2>&1 ||
      { cat build.log >&2; die "command: go build failed (above)"; }
    mv "$out.tmp" "$out"
  )
}

# `write_node_launcher FILE DIR WHAT`: a plugin launcher that runs this checkout's built
# dist/lib/engine/DIR/main.js (CUTOVER_ROOT from the environment first: the plugin cache is
# shared by every checkout), saying WHAT is missing when it has not been built.
write_node_launcher() {
  cat > "$1.tmp" <<LAUNCHER
#!/bin/sh
# Cutover's $3 plugin (lib/engine/$2; see the README, "The engine").
root="\${CUTOVER_ROOT:-$CUTOVER_ROOT}"
main="\$root/dist/lib/engine/$2/main.js"
if [ ! -f "\$main" ]; then
  echo "$3: \$main is missing: run npm run build in \$root" >&2
  exit 1
fi
exec node "\$main" "\$@"
LAUNCHER
  chmod +x "$1.tmp" && mv "$1.tmp" "$1"
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
  if (build_command_provider "$staged"); then
    echo "go build of pulumi-command $COMMAND_VERSION" > "$kind_file"
  elif [ "${CUTOVER_COMMAND_PROVIDER:-}" = go ]; then
    die "command provider: the Go module cannot be had and CUTOVER_COMMAND_PROVIDER=go; stopping"
  else
    log "command provider: Go module unavailable (above); registering Cutover's implementation of the plugin"
    write_node_launcher "$staged" command-provider "command provider"
    echo "Cutover's implementation (lib/engine/command-provider)" > "$kind_file"
  fi
  # Registered in the plugin cache under its exact version, never as an ambient binary on PATH.
  pulumi plugin install resource command "$command_plugin_version" --file "$staged" --reinstall >&2
  log "command provider $command_plugin_version: registered ($(cat "$kind_file"))"
}

# The `cutover` provider plugin (lib/engine/cutover-provider: what each host serves, read back
# by `pulumi refresh`), registered under the package's version, like the command provider's
# launcher: it runs the built JavaScript of this checkout (or of the installed package).
ensure_cutover_plugin() {
  local version staged="$CUTOVER_ENGINE_DIR/provider/pulumi-resource-cutover"
  version="$(node -p 'require(process.argv[1]).version' "$CUTOVER_ROOT/package.json")"
  mkdir -p "$(dirname "$staged")"
  write_node_launcher "$staged" cutover-provider "cutover provider"
  pulumi plugin install resource cutover "$version" --file "$staged" --reinstall >&2
  log "cutover provider $version: registered"
}

case "${1:-}" in
  "") ;;
  build) [ $# -eq 2 ] || die "usage: engine.sh build <cli|language-nodejs|language-yaml|sdkgen>"; build_part "$2"; exit 0 ;;
  verify) verify_all; exit ;;
  pin) pin_all "${2:-}"; exit 0 ;;
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown command \"$1\" (engine.sh [build <part> | verify | pin])" ;;
esac

existing="$(command -v pulumi || true)"
if [ -n "$existing" ] && [ "$existing" != "$CUTOVER_ENGINE_DIR/bin/pulumi" ]; then
  have="$(pulumi version 2>/dev/null | sed 's/^v//')"
  if version_ge "$have" "$min_pulumi"; then
    log "using pulumi $have found at $existing"
    ensure_command_plugin
    ensure_cutover_plugin
    exit 0
  fi
  log "pulumi $have at $existing is older than $min_pulumi: building the pinned engine instead"
fi

# The v3.68 language host reads runtime options only as flags (-typescript, -nodeargs); today's
# engine sends them inside its requests, which that host ignores. So Pulumi.yaml's
# `typescript: false` was dropped: every run of a compiled JavaScript program registered
# ts-node and loaded TypeScript (~0.45 s of each up and preview). The launcher on PATH finds
# the project's Pulumi.yaml above the program's directory (where the engine starts the host)
# and passes that option as the flag.
install_langhost_launcher() {
  local launcher="$CUTOVER_ENGINE_DIR/bin/pulumi-language-nodejs"
  cat > "$launcher.tmp" <<'LAUNCHER'
#!/bin/sh
# Starts the pinned Node.js language host with Pulumi.yaml's `runtime.options.typescript` as
# its flag (see scripts/engine.sh, install_langhost_launcher).
dir="$PWD"
while [ "$dir" != / ] && [ ! -f "$dir/Pulumi.yaml" ]; do dir="$(dirname "$dir")"; done
typescript=true
if [ -f "$dir/Pulumi.yaml" ] && grep -Eq '^[[:space:]]+typescript:[[:space:]]*false[[:space:]]*(#.*)?$' "$dir/Pulumi.yaml"; then
  typescript=false
fi
exec "$(dirname "$0")/../libexec/pulumi-language-nodejs" -typescript="$typescript" "$@"
LAUNCHER
  chmod +x "$launcher.tmp" && mv "$launcher.tmp" "$launcher"
}

for part in $parts; do build_part "$part"; done
install_langhost_launcher

. "$here/engine-env.sh"
log "pulumi $(pulumi version) at $(command -v pulumi)"
ensure_command_plugin
ensure_cutover_plugin
rm -rf "$CUTOVER_ENGINE_DIR/src"
log "ready: $(du -sh "$CUTOVER_ENGINE_DIR" | cut -f1) in $CUTOVER_ENGINE_DIR"
