#!/bin/sh
# `deno compile` needs Deno's runtime (denort), which it downloads; where that
# download is impossible, say so in one line and fail.
out=$(node_modules/.bin/deno compile -A --unstable-net --output dist/appserve-deno \
  --include workers/process_entry.ts src/cli/main.ts 2>&1)
status=$?
if [ $status -ne 0 ]; then
  echo "compile-deno: deno compile failed (it must download denort, which this machine cannot reach): $(echo "$out" | grep -m1 -i error)" >&2
  exit 1
fi
echo "wrote dist/appserve-deno"
