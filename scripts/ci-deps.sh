#!/usr/bin/env bash
# System packages the test-suite uses (completion tests load the completion
# scripts into real zsh/fish/bash-completion; the dial-out bootstrap test
# firewalls its device's network namespace with nftables).  Idempotent;
# best effort.
set -u
need=()
for pkg in zsh fish bash-completion nftables; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "ci-deps: no apt-get; skipping ${need[*]}" >&2; exit 0; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    echo "ci-deps: could not install ${need[*]}" >&2
    exit 1
}
