#!/usr/bin/env bash
# System packages the benchmarks use: openssh-server, for the private sshd
# (loopback only) that pipe_throughput.py compares `cat | ssh` against, and
# the one bootstrap_device.py starts in its network namespace.
# Idempotent; needs root (apt-get).
set -eu
dpkg -s openssh-server >/dev/null 2>&1 && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends openssh-server
