#!/bin/sh
# The image's build step, run as is by the Dockerfile and by tests/platform/test_package.py:
# build a wheel from SOURCE (a source tree or an sdist) and install it, with the pinned
# dependencies of constraints.txt, into a fresh virtual environment at PREFIX.
#
#   docker/build.sh SOURCE PREFIX
set -eu
source_=${1:?usage: docker/build.sh SOURCE PREFIX}
prefix=${2:?usage: docker/build.sh SOURCE PREFIX}
here=$(cd "$(dirname "$0")" && pwd)
constraints=${TRADEPOST_CONSTRAINTS:-$here/../constraints.txt}
python=${PYTHON:-python3}

wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT

"$python" -m venv "$prefix"
"$prefix/bin/pip" wheel --quiet --no-deps --wheel-dir "$wheels" "$source_"
"$prefix/bin/pip" install --quiet --no-compile --constraint "$constraints" "$wheels"/tradepost-*.whl
"$prefix/bin/tradepost" --version
