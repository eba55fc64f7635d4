#!/bin/sh
# `deno compile` needs Deno's runtime (denort), which it downloads; where that
# download is impossible, say so in one line and fail.
out=$(NO_COLOR=1 node_modules/.bin/deno compile -A --unstable-net --output dist/appserve-deno \
  --include workers/process_entry.ts src/cli/main.ts 2>&1)
status=$?
if [ $status -ne 0 ]; then
  reason=$(echo "$out" | grep -m1 "error sending request" | sed 's/^ *[0-9]*: *//')
  [ -n "$reason" ] || reason=$(echo "$out" | grep -m1 "error" | sed 's/^ *[0-9]*: *//')
  echo "compile-deno: deno compile could not get its runtime (denort) from Deno's download server: $reason" >&2
  rm -f dist/appserve-deno.tmp-*
  exit 1
fi
echo "wrote dist/appserve-deno"
