#!/usr/bin/env bash
# Installs the pinned uv into a private virtual environment (default .tools/), using any Python 3.
# uv then creates the project environment with Python 3.11, downloading a managed CPython 3.11 when
# the machine has none (on machines with internet access).
set -euo pipefail
tools_dir=${1:-.tools}
uv_version=${2:?usage: bootstrap-uv.sh TOOLS_DIR UV_VERSION}

python=""
for candidate in python3.11 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  echo "error: no Python 3.8+ found (hint: sudo apt-get install python3 python3-venv)" >&2
  exit 2
fi
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
  echo "error: $python cannot create virtual environments (hint: sudo apt-get install python3-venv)" >&2
  exit 2
fi
if [ -x "$tools_dir/bin/uv" ] && [ "$("$tools_dir/bin/uv" --version | cut -d' ' -f2)" = "$uv_version" ]; then
  exit 0
fi
echo "installing uv $uv_version into $tools_dir (with $("$python" --version))"
rm -rf "$tools_dir"
"$python" -m venv "$tools_dir"
"$tools_dir/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
