#!/usr/bin/env bash
# A five-server ARES cluster on 127.0.0.1, driven through bin/ares: a write
# and a read with ABD, a reconfiguration to EC(5,3) on the same servers, a
# write and a read with EC, a 1 MiB file, and the configuration sequence.
# Everything runs in a temporary directory that is removed at the end.
set -euo pipefail
BIN=${BIN:-bin}
for b in ares ares-server; do
  [[ -x $BIN/$b ]] || { echo "demo: $BIN/$b missing; run make build" >&2; exit 1; }
done
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
  rm -rf "$dir"
}
trap cleanup EXIT

bold="" plain=""
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() {
  local a line="\$"
  for a in "$@"; do [[ $a == *" "* ]] && line+=" \"$a\"" || line+=" $a"; done
  printf '\n%s%s%s\n' "$bold" "$line" "$plain"
  "$@"
}

# Port 0: each server prints "listening on ADDR" with the port it got.
servers=""
for i in 1 2 3 4 5; do
  "$BIN/ares-server" --id "s$i" --listen 127.0.0.1:0 --data "$dir/s$i" \
    >"$dir/s$i.out" 2>"$dir/s$i.log" &
  pids+=($!)
done
for i in 1 2 3 4 5; do
  for _ in $(seq 100); do
    grep -q '^listening on ' "$dir/s$i.out" 2>/dev/null && break
    sleep 0.1
  done
  addr=$(sed -n 's/^listening on //p' "$dir/s$i.out")
  [[ -n $addr ]] || { echo "demo: server s$i did not start:" >&2; cat "$dir/s$i.log" >&2; exit 1; }
  servers+="${servers:+,}s$i=$addr"
done
echo "cluster: $servers (data in $dir)"
export ARES_SERVERS=$servers

step "$BIN/ares" put greeting "hello from ABD"
step "$BIN/ares" get greeting; echo
step "$BIN/ares" reconfig --to "$servers" --to-dap ec --to-ec-k 3
step "$BIN/ares" get greeting; echo
step "$BIN/ares" put greeting "hello from EC"
step "$BIN/ares" get greeting; echo
head -c 1048576 /dev/urandom >"$dir/in.bin"
step "$BIN/ares" put blob --file "$dir/in.bin"
step "$BIN/ares" get blob --out "$dir/out.bin"
step cmp "$dir/in.bin" "$dir/out.bin" && echo "1 MiB blob read back intact"
step "$BIN/ares" configs
echo
echo "demo: ok"
