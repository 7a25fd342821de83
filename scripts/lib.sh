# shellcheck shell=bash
# Shared helpers for scripts/*: installing Debian packages when missing.

# A heading, with the time since the script started (CI has a time budget).
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    step "apt-get update"
    as_root apt-get update -qq || return
    APT_UPDATED=1
  fi
  step "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensure_packages cmd:package ... installs each package whose command is missing.
ensure_packages() {
  local missing=() spec cmd pkg
  for spec in "$@"; do
    cmd=${spec%%:*}; pkg=${spec#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    # Debian's prometheus package would start a system service; nothing here needs it.
    # shellcheck disable=SC2046 # one word per package
    apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
  fi
}

# ensure_dev_package pkg ... installs library packages that have no command to probe.
ensure_dev_package() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# no_service_starts CMD ... runs CMD (an install) with service starts forbidden: Debian's
# packages start their system services on install unless /usr/sbin/policy-rc.d says no.
# (The install helpers here return their failure rather than rely on set -e, which does
# not apply inside `CMD || ...`.)
no_service_starts() {
  local added='' rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    added=1
  fi
  "$@" || rc=$?
  if [ -n "$added" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
  return "$rc"
}

# The real database stack (tests/it/support/postgres.rs, scripts/demo --real): PostgreSQL 15
# with pg_stat_statements (postgresql-contrib), postgres_exporter, process-exporter,
# node_exporter.
ensure_real_db_packages() {
  ensure_packages prometheus-postgres-exporter:prometheus-postgres-exporter prometheus-process-exporter:prometheus-process-exporter prometheus-node-exporter:prometheus-node-exporter || return
  ensure_dev_package postgresql-15 postgresql-contrib
}

# RabbitMQ (tests/it/real.rs, scripts/demo --real) runs as a private node (own ports, epmd,
# data dir), never the package's service: forbid that service for the install, and stop
# one that runs anyway.
ensure_rabbitmq_server() {
  if ! command -v epmd >/dev/null 2>&1 || [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    local had_epmd=0
    pgrep -x epmd >/dev/null 2>&1 && had_epmd=1
    no_service_starts apt_install rabbitmq-server || return
    if command -v service >/dev/null 2>&1 && service rabbitmq-server status >/dev/null 2>&1; then
      as_root service rabbitmq-server stop || true
    fi
    # The package's scripts leave an `epmd -daemon` behind, listening on every interface:
    # stop it (the tests and the demo run their own epmd on a loopback port).
    if [ "$had_epmd" = 0 ] && pgrep -x -u rabbitmq epmd >/dev/null 2>&1; then
      as_root pkill -x -u rabbitmq epmd || true
    fi
  fi
}

ensure_rust_components() {
  command -v cargo >/dev/null 2>&1 || { echo "cargo is not installed: install Rust 1.85 or newer with rustup (https://rustup.rs)" >&2; exit 1; }
  # Edition 2024 needs rustc 1.85; Debian 12's own rustc is older.
  local v
  v=$(rustc --version | awk '{print $2}')
  if [ "$(printf '%s\n1.85.0\n' "$v" | sort -V | head -1)" != "1.85.0" ]; then
    echo "rustc $v is too old: vitals needs Rust 1.85 or newer (rustup update stable)" >&2
    exit 1
  fi
  if command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  fi
}
