#!/usr/bin/env bash
# Installs the Debian packages Cutover's local fleet and tests use, only when missing,
# so a second run does not touch apt at all.
set -euo pipefail
packages=(openssh-server openssh-client haproxy supervisor socat curl wrk tar gzip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "[setup] Debian packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[setup] missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "[setup] installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts these as system services on install; Cutover runs its own instances only.
for svc in haproxy supervisor ssh; do
  command -v systemctl >/dev/null && systemctl disable --now "$svc" >/dev/null 2>&1 || true
  service "$svc" stop >/dev/null 2>&1 || true
done
