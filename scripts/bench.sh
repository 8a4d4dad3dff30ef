#!/usr/bin/env bash
# Benchmarks fanout against its peers in one run, with a fork/exec floor of our own
# (scripts/bench/floor.rs), and prints medians and ratios to the floor.
#
#   scripts/bench.sh            the full run (about 15 minutes on 2 cores)
#   scripts/bench.sh --smoke    a few jobs per workload: checks that the benchmark works (CI)
#   scripts/bench.sh --runs 5   more runs per command (default 3)
#   scripts/bench.sh --only a,c run some workloads only (a b c d e f g)
#
# Workloads (README "Performance" explains them and holds the latest figures):
#   a. spawn overhead: 5,000 and 20,000 jobs of `true ARG` at -j 2
#   b. scheduling: 200 jobs of `sleep 0.05` at -j 8 and -j 64, against the ideal time
#   c. output: 500 jobs writing 200 KB each (100 MB) to /dev/null, grouped, with and without -k
#   d. memory: peak RSS of a --dry-run over 1,000,000 stdin lines and of 100,000 `true` jobs
#   e. Slurm steps: 100 jobs of `sleep 0.1` as steps of a 2-task allocation, fanout --slurm
#      against `parallel srun --exact -n1`, against the ideal (with SLURM_CONF set, or as root
#      with the test Slurm of scripts/test-slurm.sh, started and stopped here; else skipped)
#   f. --pipe: `wc -l` over a 1 GB file in 10 MB blocks at -j 2 (fanout --pipe and --pipepart
#      against GNU parallel --pipepart and --pipe), with the throughput ratio to GNU --pipepart
#   g. ssh: 300 jobs of `sleep 0.2` over 3 hosts x 2 slots (against the ideal 10 s) and 2,000
#      `true` jobs (jobs/s), fanout -S against GNU parallel -S on the same hosts (the
#      network-namespace hosts of scripts/test-hosts.sh, started and stopped here as root)
#
# Peers are used when installed: xargs (findutils), GNU parallel (Debian `parallel`),
# rust-parallel (`cargo install rust-parallel`). As root on Debian the script installs
# hyperfine, GNU time and GNU parallel with apt-get, and (full run only) rust-parallel with
# cargo; elsewhere it skips what is missing. Results go to stdout and target/bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
runs=3
only="a,b,c,d,e,f,g"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --runs) runs="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$smoke" = 1 ] && runs=1

# ---- tools ---------------------------------------------------------------------------------
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
command -v parallel >/dev/null || [ "$smoke" = 1 ] || need+=(parallel)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${need[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
command -v hyperfine >/dev/null || { echo "bench.sh: hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
if [ "$smoke" = 0 ] && ! command -v rust-parallel >/dev/null && command -v cargo >/dev/null; then
  echo "== installing rust-parallel (cargo install, about a minute)" >&2
  cargo install --quiet --locked rust-parallel >&2 || echo "bench.sh: rust-parallel not installed; skipped" >&2
fi
# GNU parallel asks for a citation once; --will-cite is its own way to say it was seen.
gnu_parallel=""
if command -v parallel >/dev/null && parallel --version 2>/dev/null | grep -q "GNU parallel"; then
  gnu_parallel="parallel --will-cite"
fi
rust_parallel=""
command -v rust-parallel >/dev/null && rust_parallel="rust-parallel"

echo "== building fanout and the floor" >&2
cargo build --release --quiet
mkdir -p target/bench
rustc -O --edition 2024 -o target/bench/floor scripts/bench/floor.rs
fanout="$PWD/target/release/fanout"
floor="$PWD/target/bench/floor"
work=$(mktemp -d)
slurm_up=0
hosts_up=0
trap 'rm -rf "$work"; [ "$slurm_up" = 1 ] && scripts/test-slurm.sh down; [ "$hosts_up" = 1 ] && bash scripts/test-hosts.sh down >/dev/null 2>&1; true' EXIT
out=target/bench/results.md
: > "$out"

say() { printf '%s\n' "$*" | tee -a "$out"; }

# ---- helpers -------------------------------------------------------------------------------
# bench NAME=COMMAND...: times each command with hyperfine (stdin and stdout redirections are
# in the commands), then prints one row per command: median wall, CPU (user+sys), and the
# ratios of both to the first command (the floor, or the ideal when IDEAL is set).
bench() {
  local args=() names=() i=0
  for nc in "$@"; do
    names+=("${nc%%=*}")
    args+=(-n "${nc%%=*}" "${nc#*=}")
  done
  hyperfine --style none -r "$runs" ${WARMUP:+-w "$WARMUP"} --export-json "$work/h.json" \
    "${args[@]}" >/dev/null 2>"$work/h.err" || { cat "$work/h.err" >&2; return 1; }
  # hyperfine's JSON: one object per command; pull median, user and system (means) with awk.
  awk -v ideal="${IDEAL:-}" -v per="${PER:-}" -v unit="${UNIT:-}" '
    function num(s) { sub(/.*: */, "", s); sub(/,.*/, "", s); return s + 0 }
    /"command":/ { gsub(/.*"command": "|",$/, ""); name=$0 }
    /"median":/  { med[name] = num($0) }
    /"user":/    { usr[name] = num($0) }
    /"system":/  { sys[name] = num($0); order[n++] = name }
    END {
      base = (ideal != "") ? ideal : med[order[0]]
      cbase = usr[order[0]] + sys[order[0]]
      for (i = 0; i < n; i++) {
        k = order[i]; cpu = usr[k] + sys[k]
        extra = (per != "") ? sprintf(" | %.0f %s", per / med[k], unit) : ""
        printf "| %s | %.3f s | %.2fx | %.2f s | %.2fx%s |\n", k, med[k], med[k] / base, cpu, cpu / cbase, extra
      }
    }' "$work/h.json" | tee -a "$out"
}

# peak_rss LABEL COMMAND: runs COMMAND under GNU time; prints its peak RSS and wall time.
peak_rss() {
  local label="$1"; shift
  /usr/bin/time -f "%M %e" -o "$work/t" sh -c "$*" >/dev/null 2>&1 || true
  read -r kb secs < "$work/t"
  say "| $label | $(awk -v k="$kb" 'BEGIN { printf "%.1f MiB", k / 1024 }') | ${secs} s |"
}

# runners J CMD INPUT [GNU]: sets `cmds` to the floor, fanout and each installed peer running
# CMD VALUE for each line of INPUT at -j J (GNU parallel only when GNU is non-empty).
runners() {
  local j="$1" cmd="$2" in="$3" gnu="${4:-}"
  cmds=("floor=$floor -j $j $cmd < $in"
        "fanout=$fanout -j $j $cmd < $in"
        "xargs -P $j=xargs -P $j -n 1 $cmd < $in")
  [ -n "$rust_parallel" ] && cmds+=("rust-parallel=rust-parallel -j $j $cmd < $in")
  [ -n "$gnu_parallel" ] && [ -n "$gnu" ] && cmds+=("GNU parallel=$gnu_parallel -j $j $cmd < $in")
  return 0
}

has() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

say "# fanout benchmark"
say ""
peers="xargs $(xargs --version | awk 'NR==1 { print $NF }')"
[ -n "$gnu_parallel" ] && peers+=", GNU parallel $(parallel --version | awk 'NR==1 { print $3 }')"
[ -n "$rust_parallel" ] && peers+=", rust-parallel $(rust-parallel --version | awk '{ print $2 }')"
say "$(date -u +%Y-%m-%d), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr);" \
  "fanout $("$fanout" --version | awk '{ print $2 }'), $peers; hyperfine $(hyperfine --version | awk '{ print $2 }')," \
  "$runs run(s) per command$([ "$smoke" = 1 ] && echo ', SMOKE MODE: sizes too small to mean anything')."

# ---- a. spawn overhead ---------------------------------------------------------------------
if has a; then
  sizes="5000 20000"; [ "$smoke" = 1 ] && sizes="200"
  for n in $sizes; do
    seq "$n" > "$work/a.in"
    say ""
    say "## a. $n jobs of \`true ARG\` at -j 2"
    say ""
    say "| command | wall (median) | wall / floor | CPU | CPU / floor | jobs/s |"
    say "| --- | --- | --- | --- | --- | --- |"
    # GNU parallel takes about 5x as long: the smaller size only.
    gnu=""; [ "$n" -le 5000 ] && gnu=1
    runners 2 true "$work/a.in" "$gnu"
    PER=$n UNIT=jobs/s bench "${cmds[@]}"
  done
fi

# ---- b. scheduling -------------------------------------------------------------------------
if has b; then
  n=200; [ "$smoke" = 1 ] && n=20
  awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print "0.05" }' > "$work/b.in"
  for j in 8 64; do
    ideal=$(awk -v n="$n" -v j="$j" 'BEGIN { w = int((n + j - 1) / j); printf "%.3f", w * 0.05 }')
    say ""
    say "## b. $n jobs of \`sleep 0.05\` at -j $j (ideal: $ideal s)"
    say ""
    say "| command | wall (median) | wall / ideal | CPU | CPU / floor |"
    say "| --- | --- | --- | --- | --- |"
    runners "$j" sleep "$work/b.in" 1
    IDEAL=$ideal bench "${cmds[@]}"
  done
fi

# ---- c. output -----------------------------------------------------------------------------
if has c; then
  n=500; [ "$smoke" = 1 ] && n=20
  size=200000
  mkdir -p "$work/blobs"
  head -c "$size" /dev/urandom > "$work/blobs/blob"
  # One file, many names: each job has its own argument, the page cache holds 200 KB.
  for i in $(seq "$n"); do ln "$work/blobs/blob" "$work/blobs/$i"; done
  seq "$n" | sed "s|^|$work/blobs/|" > "$work/c.in"
  total=$((n * size))
  say ""
  say "## c. $n jobs writing $size bytes each ($total bytes) to /dev/null, at -j 2"
  say ""
  cmds=("floor (captures)=$floor -j 2 --capture cat < $work/c.in"
        "fanout=$fanout -j 2 cat < $work/c.in"
        "fanout -k=$fanout -j 2 -k cat < $work/c.in"
        "xargs -P 2 (not grouped)=xargs -P 2 -n 1 cat < $work/c.in")
  [ -n "$rust_parallel" ] && cmds+=("rust-parallel=rust-parallel -j 2 cat < $work/c.in")
  [ -n "$gnu_parallel" ] && cmds+=("GNU parallel=$gnu_parallel -j 2 cat < $work/c.in"
                                   "GNU parallel -k=$gnu_parallel -j 2 -k cat < $work/c.in")
  # Every byte must come out, and each job's 200 KB in one piece (grouped).
  for nc in "${cmds[@]}"; do
    name="${nc%%=*}"
    got=$(sh -c "${nc#*=}" 2>/dev/null | wc -c)
    if [ "$got" != "$total" ]; then
      echo "bench.sh: $name wrote $got bytes, not $total" >&2
      exit 1
    fi
  done
  say "Every command wrote exactly $total bytes."
  say ""
  say "| command | wall (median) | wall / floor | CPU | CPU / floor | MB/s |"
  say "| --- | --- | --- | --- | --- | --- |"
  timed=()
  for nc in "${cmds[@]}"; do timed+=("${nc%%=*}=${nc#*=} > /dev/null"); done
  PER=$((total / 1000000)) UNIT=MB/s bench "${timed[@]}"
fi

# ---- d. memory -----------------------------------------------------------------------------
if has d; then
  big=1000000; jobs=100000
  [ "$smoke" = 1 ] && big=10000 && jobs=500
  seq "$big" > "$work/d.in"
  seq $((big / 10)) > "$work/d10.in"
  seq "$jobs" > "$work/dj.in"
  seq $((jobs / 10)) > "$work/dj10.in"
  say ""
  say "## d. peak RSS (GNU time's maximum resident set size)"
  say ""
  say "| fanout run | peak RSS | wall |"
  say "| --- | --- | --- |"
  peak_rss "--dry-run over $((big / 10)) stdin lines" "$fanout --dry-run echo < $work/d10.in"
  peak_rss "--dry-run over $big stdin lines" "$fanout --dry-run echo < $work/d.in"
  peak_rss "$((jobs / 10)) \`true\` jobs, -j 2" "$fanout -j 2 true < $work/dj10.in"
  peak_rss "$jobs \`true\` jobs, -j 2" "$fanout -j 2 true < $work/dj.in"
fi

# ---- e. Slurm steps ------------------------------------------------------------------------
if has e; then
  if [ -z "${SLURM_CONF:-}" ] && [ "$(id -u)" = 0 ] && [ -x scripts/test-slurm.sh ]; then
    export TEST_SLURM_DIR
    TEST_SLURM_DIR=$(mktemp -d /tmp/fslurm.XXXXXX)
    slurm_up=1
    if slurm_env=$(scripts/test-slurm.sh up 2>"$work/slurm.err"); then
      eval "$slurm_env"
    else
      cat "$work/slurm.err" >&2
    fi
  fi
  say ""
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && command -v salloc >/dev/null; then
    n=100; [ "$smoke" = 1 ] && n=10
    awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print "0.1" }' > "$work/e.in"
    ideal=$(awk -v n="$n" 'BEGIN { printf "%.3f", int((n + 1) / 2) * 0.1 }')
    say "## e. $n jobs of \`sleep 0.1\` as Slurm steps of a 2-task allocation (ideal: $ideal s)"
    say ""
    say "| command | wall (median) | wall / ideal | CPU | CPU / first |"
    say "| --- | --- | --- | --- | --- |"
    cmds=("fanout --slurm=salloc -Q -n 2 $fanout --slurm --no-summary sleep < $work/e.in")
    [ -n "$gnu_parallel" ] &&
      cmds+=("parallel srun --exact=salloc -Q -n 2 $gnu_parallel -j 2 srun --exact -n1 sleep < $work/e.in")
    IDEAL=$ideal bench "${cmds[@]}"
  else
    say "## e. Slurm steps: skipped (no SLURM_CONF, and not root to start the test Slurm)"
  fi
fi

# ---- f. --pipe -----------------------------------------------------------------------------
if has f; then
  bytes=1000000000; block=10M
  [ "$smoke" = 1 ] && bytes=10000000 && block=1M
  seq 200000000 | head -c "$bytes" > "$work/f.in" || true
  lines=$(wc -l < "$work/f.in")
  say ""
  say "## f. \`wc -l\` over $bytes bytes in $block blocks at -j 2"
  say ""
  cmds=()
  [ -n "$gnu_parallel" ] && cmds+=("GNU parallel --pipepart=$gnu_parallel --pipepart --block $block -j 2 -a $work/f.in wc -l")
  cmds+=("fanout --pipe=$fanout -q --pipe --block $block -j 2 wc -l < $work/f.in"
         "fanout --pipepart=$fanout -q --pipepart --block $block -j 2 -a $work/f.in wc -l")
  [ -n "$gnu_parallel" ] && cmds+=("GNU parallel --pipe=$gnu_parallel --pipe --block $block -j 2 wc -l < $work/f.in")
  # Every line must be counted once: the blocks' counts add up to the file's.
  for nc in "${cmds[@]}"; do
    got=$(sh -c "${nc#*=}" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    if [ "$got" != "$lines" ]; then
      echo "bench.sh: ${nc%%=*} counted $got lines, not $lines" >&2
      exit 1
    fi
  done
  say "Every command counted exactly $lines lines."
  say ""
  say "| command | wall (median) | wall / first | CPU | CPU / first | MB/s |"
  say "| --- | --- | --- | --- | --- | --- |"
  timed=()
  for nc in "${cmds[@]}"; do timed+=("${nc%%=*}=${nc#*=} > /dev/null"); done
  PER=$((bytes / 1000000)) UNIT=MB/s bench "${timed[@]}"
  if [ -n "$gnu_parallel" ]; then
    # Throughput of fanout --pipe over GNU parallel --pipepart's (the target is >= 0.8).
    awk '/"command":/ { gsub(/.*"command": "|",$/, ""); name=$0 }
         /"median":/ { sub(/.*: */, ""); sub(/,.*/, ""); med[name] = $0 + 0 }
         END { printf "\nThroughput of fanout --pipe / GNU parallel --pipepart: %.2fx (target >= 0.8x)\n",
               med["GNU parallel --pipepart"] / med["fanout --pipe"] }' "$work/h.json" | tee -a "$out"
  fi
  say ""
  say "| fanout run | peak RSS | wall |"
  say "| --- | --- | --- |"
  peak_rss "--pipe --block $block -j 2 wc -l over $bytes bytes" "$fanout -q --pipe --block $block -j 2 wc -l < $work/f.in"
fi

# ---- g. ssh --------------------------------------------------------------------------------
if has g; then
  say ""
  if [ -z "${FO_SSH_CONFIG:-}" ] && [ "$(id -u)" = 0 ] && [ -f scripts/test-hosts.sh ]; then
    # A set of hosts of its own (set 9), so a test run's hosts (set 0) may be up meanwhile.
    export FO_HOSTS_DIR FO_HOSTS_SET=${FO_HOSTS_SET:-9}
    FO_HOSTS_DIR=$(mktemp -d /tmp/fo-bench-hosts.XXXXXX)
    hosts_up=1
    if hosts_env=$(bash scripts/test-hosts.sh up 2>"$work/hosts.err"); then
      eval "$hosts_env"
    else
      cat "$work/hosts.err" >&2
    fi
  fi
  if [ -n "${FO_SSH_CONFIG:-}" ] && [ -f "$FO_SSH_CONFIG" ]; then
    ssh_cmd="ssh -F $FO_SSH_CONFIG"
    n=300; t=2000; [ "$smoke" = 1 ] && n=12 && t=20
    awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print "0.2" }' > "$work/g.in"
    seq "$t" > "$work/g2.in"
    ideal=$(awk -v n="$n" 'BEGIN { printf "%.3f", int((n + 5) / 6) * 0.2 }')
    say "## g. $n jobs of \`sleep 0.2\` over 3 ssh hosts x 2 slots (ideal: $ideal s)"
    say ""
    say "| command | wall (median) | wall / ideal | CPU | CPU / first |"
    say "| --- | --- | --- | --- | --- |"
    logins="2/h1,2/h2,2/h3"
    cmds=("fanout -S=$fanout --no-summary --ssh '$ssh_cmd' -S $logins sleep < $work/g.in")
    [ -n "$gnu_parallel" ] &&
      cmds+=("GNU parallel -S=$gnu_parallel --ssh '$ssh_cmd' -S $logins sleep < $work/g.in")
    IDEAL=$ideal bench "${cmds[@]}"
    say ""
    say "## g. $t jobs of \`true\` over the same hosts"
    say ""
    say "| command | wall (median) | wall / first | CPU | CPU / first | jobs/s |"
    say "| --- | --- | --- | --- | --- | --- |"
    cmds=("fanout -S=$fanout --no-summary --ssh '$ssh_cmd' -S $logins true < $work/g2.in")
    [ -n "$gnu_parallel" ] &&
      cmds+=("GNU parallel -S=$gnu_parallel --ssh '$ssh_cmd' -S $logins true < $work/g2.in")
    PER=$t UNIT=jobs/s bench "${cmds[@]}"
  else
    say "## g. ssh: skipped (no FO_SSH_CONFIG, and the test hosts could not be started: root is needed)"
  fi
fi

say ""
say "(written to $out)"
