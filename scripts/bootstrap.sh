#!/usr/bin/env bash
# Installs what a fresh Debian machine with Node 20 and npm lacks, then the workspace's packages.
# Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: FUSE for mounts (libfuse2 for the binding, fuse3 for fusermount).
APT_PACKAGES=(libfuse2 fuse3 acl attr libcap2-bin)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing system packages ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
  fi
fi

# pnpm 9 (pinned in package.json's packageManager).
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version | cut -d. -f1)" != 9 ]; then
  echo "bootstrap: installing pnpm 9"
  npm install -g pnpm@9 >/dev/null
fi

pnpm install --frozen-lockfile
