#!/usr/bin/env bash
# Makes this machine ready for Cutover's local fleet (the demo, the end-to-end tests): the
# Debian packages it runs, installed only when missing (a second run does not touch apt), and
# root, which the fleet needs to add its system users and start sshd, HAProxy and supervisord.
# Not root: changes nothing and prints the exact command to run instead.
# Usage: bash scripts/setup-host.sh [the command being prepared for, e.g. "npm run demo"]
set -euo pipefail
for_command="${1:-}"
packages=(openssh-server openssh-client haproxy supervisor socat curl wrk tar gzip util-linux procps)
# The tests also check the sudoers rule Cutover renders for systemd hosts with `visudo -c`.
[ "$for_command" != "npm test" ] || packages+=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$(id -u)" -ne 0 ]; then
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "[setup] missing Debian packages: ${missing[*]}. Nothing was changed. Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  fi
  if [ -n "$for_command" ]; then
    echo "[setup] the local fleet needs root (it adds system users and starts sshd, HAProxy and supervisord): run \`sudo $for_command\`${missing[*]:+, which installs the packages too}" >&2
    exit 1
  fi
  [ "${#missing[@]}" -eq 0 ] || exit 1
  echo "[setup] Debian packages present"
  exit 0
fi
if [ "${#missing[@]}" -eq 0 ]; then
  echo "[setup] Debian packages present"
  exit 0
fi
echo "[setup] installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts these as system services on install; Cutover runs its own instances only.
for svc in haproxy supervisor ssh; do
  command -v systemctl >/dev/null && systemctl disable --now "$svc" >/dev/null 2>&1 || true
  service "$svc" stop >/dev/null 2>&1 || true
done
echo "[setup] installed ${missing[*]}"
