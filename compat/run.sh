#!/usr/bin/env bash
# Wire compatibility with ONLYOFFICE's own client: runs the official Python SDK (docspace-api-sdk,
# pinned) against a freshly started server and checks the SMS landed in the development outbox.
# Needs python3 with venv and access to PyPI (first run only; the venv is cached in target/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/compat-venv"
sdk_version="3.7.0"

if ! "$venv/bin/python" -c "import docspace_api_sdk" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "docspace-api-sdk==$sdk_version"
fi

# The same feature set as `cargo test --workspace` (which CI has just run), so nothing rebuilds;
# building the bin alone would resolve features without dev-dependencies and rebuild half the tree.
cargo build --quiet --workspace --tests
bin="$root/target/debug/docspace-auth"
data="$(mktemp -d)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

"$bin" user add --data-dir "$data" --email sdk@example.com --password "sdk password" --phone "+44 7400 123456" >/dev/null
"$bin" user add --data-dir "$data" --email new@example.com --password "sdk password" >/dev/null
"$bin" serve --data-dir "$data" --bind 127.0.0.1:0 >"$data/serve.out" 2>"$data/serve.err" &
server_pid=$!
base=""
for _ in $(seq 1 100); do
  base="$(sed -n 's/^docspace-auth listening on //p' "$data/serve.out")"
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$data/serve.err"; echo "server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "server did not start" >&2; exit 1; }

PYTHONWARNINGS=ignore "$venv/bin/python" "$root/compat/python_sdk_flow.py" "$base" sdk@example.com "sdk password" \
  "+4474****3456" new@example.com "$data/sms-outbox.jsonl"

# The first SMS is in the outbox, addressed in E.164, with a 6-digit code.
grep -Eq '"to":"\+447400123456","text":"Code: [0-9]{6}' "$data/sms-outbox.jsonl" \
  || { echo "no SMS in the outbox" >&2; cat "$data/sms-outbox.jsonl" >&2; exit 1; }
echo "compat: 2 passed, 0 failed"
