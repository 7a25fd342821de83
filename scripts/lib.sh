# Shared helpers for scripts/*: installing Debian packages when missing.

step() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    step "apt-get update"
    as_root apt-get update -qq
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
