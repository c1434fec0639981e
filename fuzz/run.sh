#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after the other (libFuzzer,
# through cargo-fuzz on the stable toolchain), seeded from the captures in
# ../shared/pcap/tcpdump (or $VSWITCH_PCAP_DIR/tcpdump) and configs/, and
# prints the executions and crashes of each target.
#
#   fuzz/run.sh SECONDS [TARGET...]     targets: parse pipeline pcap_reader config control
#
# A crash leaves its input in fuzz/artifacts/TARGET/; replay it with
# `cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...` from fuzz/.
set -euo pipefail
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse pipeline pcap_reader config control)
cd "$(dirname "$0")"
# cargo-fuzz passes -Z flags to rustc; this lets the stable compiler take them.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (cargo install cargo-fuzz)"
    cargo install --locked cargo-fuzz
fi
captures=${VSWITCH_PCAP_DIR:-../../shared/pcap}/tcpdump
if [ ! -d "$captures" ]; then
    echo "fuzz: capture folder $captures is absent (set VSWITCH_PCAP_DIR); seeding from configs/ only" >&2
    captures=../configs
fi
rm -rf seeds
cargo run --quiet --release --example make-seeds -- "$captures" ../configs seeds
# All safe Rust but for libc calls the targets do not reach: no sanitizer,
# for speed, but with debug assertions so that an integer overflow is a crash.
flags=(--sanitizer none --debug-assertions)
summary=()
failed=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target/last-run.log"
    stamp="artifacts/$target/.started"
    touch "$stamp"
    echo "fuzz: $target for ${seconds}s"
    status=0
    cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    crashes=$(find "artifacts/$target" -newer "$stamp" \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    if [ "$status" -ne 0 ]; then
        failed=1
        grep -m1 -E 'panicked|ERROR|SUMMARY' "$log" || tail -5 "$log"
    fi
    summary+=("$(printf '%-12s %14s executions  %s new crash input(s) in fuzz/artifacts/%s' \
        "$target" "$execs" "$crashes" "$target")")
done
printf '%s\n' "fuzz summary (${seconds}s per target):" "${summary[@]}"
exit "$failed"
