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
# tmux: tests/cli/observe/bar.rs reads the bar off a real terminal screen (tests/cli/util/screen.rs).
command -v tmux >/dev/null 2>&1 || need+=(tmux)
[ -x /usr/bin/time ] || need+=(time)
command -v mount >/dev/null 2>&1 || need+=(mount)
# GNU parallel: tests/cli/pipe.rs compares --pipe command lines with it.
command -v parallel >/dev/null 2>&1 || need+=(parallel)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "scripts/test.sh: missing ${need[*]}: install them (the tests that need them will fail)" >&2
  fi
fi

# What the EXIT trap stops: the test Slurm and the ssh hosts, whichever were started.
cleanup=()
trap 'for c in "${cleanup[@]}"; do $c || true; done' EXIT

# A single-node Slurm for tests/cli/slurm/ (root only; they print SKIP without it). The
# script exports SLURM_CONF, so no Slurm client here ever looks for a controller off this machine.
if [ "$(id -u)" = 0 ] && [ "${TEST_SLURM:-1}" != 0 ]; then
  export TEST_SLURM_DIR
  TEST_SLURM_DIR=$(mktemp -d /tmp/fslurm.XXXXXX)
  cleanup+=("scripts/test-slurm.sh down")
  if slurm_env=$(scripts/test-slurm.sh up); then
    eval "$slurm_env"
  else
    echo "scripts/test.sh: the test Slurm did not start: the Slurm tests will SKIP" >&2
  fi
else
  echo "scripts/test.sh: SKIP the Slurm tests (they need root to start a test Slurm)" >&2
fi

# The ssh tests (tests/cli/ssh.rs) run against three sshds in network namespaces, which need
# root; without them those tests print SKIP.
if [ "$(id -u)" = 0 ] && [ "${TEST_HOSTS:-1}" != 0 ] && command -v apt-get >/dev/null 2>&1; then
  export FO_HOSTS_DIR=${FO_HOSTS_DIR:-/tmp/fo-hosts.$$}
  cleanup+=("bash scripts/test-hosts.sh down")
  if hosts_env=$(bash scripts/test-hosts.sh up); then
    eval "$hosts_env"
  else
    echo "scripts/test.sh: the ssh test hosts did not start: the ssh tests will SKIP" >&2
  fi
else
  echo "scripts/test.sh: SKIP the ssh tests (they need root to start the test hosts)" >&2
fi

cargo test --all-targets "$@"
# The examples in the documentation (not built by --all-targets).
cargo test --doc
