#!/usr/bin/env bash
# Runs fanout's whole test suite. Installs what the tests use when it is missing (Debian
# packages: util-linux for unshare, bsdutils for script, procps for ps, librsvg2-bin for
# rsvg-convert, which renders `fanout timeline`'s SVG to PNG, time for GNU time's peak RSS and
# mount for a tiny tmpfs in tests/cli/output_bounds.rs; iproute2 is not needed).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
command -v ps >/dev/null 2>&1 || need+=(procps)
command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin)
[ -x /usr/bin/time ] || need+=(time)
command -v mount >/dev/null 2>&1 || need+=(mount)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "scripts/test.sh: missing ${need[*]}: install them (the tests that need them will fail)" >&2
  fi
fi

# The ssh tests (tests/cli/ssh.rs) run against three sshds in network namespaces, which need
# root; without them those tests print SKIP.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export FO_HOSTS_DIR=${FO_HOSTS_DIR:-/tmp/fo-hosts.$$}
  trap 'bash scripts/test-hosts.sh down' EXIT
  eval "$(bash scripts/test-hosts.sh up)"
else
  echo "scripts/test.sh: not root: the ssh tests will SKIP (they need scripts/test-hosts.sh up)" >&2
fi

cargo test --all-targets "$@"
# The examples in the documentation (not built by --all-targets).
cargo test --doc
