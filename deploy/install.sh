#!/bin/sh
# Install corpusbot into a fresh virtualenv and copy the bundled seed articles.
#
#   deploy/install.sh PREFIX [SEEDS_DIR]
#
# PREFIX     the virtualenv to create, e.g. /opt/corpusbot/venv; the command ends up
#            at PREFIX/bin/corpusbot.
# SEEDS_DIR  where the seed articles go (default: PREFIX/../seeds). Point
#            CORPUSBOT_CORPUS at it, or at your own folder of .txt articles.
#
# The engine's kernels are compiled into PREFIX/kernel-cache (numba's cache; point
# NUMBA_CACHE_DIR at a writable copy of it).
#
# PYTHON picks the interpreter (default python3, 3.11 or newer). The Docker image runs
# this same script in its build stage, so what is tested here is what ships there.
# pip honours its usual environment (PIP_INDEX_URL, PIP_CACHE_DIR, PIP_NO_CACHE_DIR).
set -eu

usage() {
    echo "usage: $0 PREFIX [SEEDS_DIR]" >&2
    exit 2
}

[ "$#" -ge 1 ] && [ "$#" -le 2 ] || usage
case "$1" in -*) usage ;; esac

PYTHON=${PYTHON:-python3}
SRC=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
PREFIX=$1
SEEDS_DIR=${2:-$(dirname -- "$PREFIX")/seeds}

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "error: $PYTHON is older than Python 3.11" >&2
    exit 1
}
if [ -e "$PREFIX" ] && [ -n "$(ls -A -- "$PREFIX")" ]; then
    echo "error: $PREFIX exists and is not empty; remove it or pick another PREFIX" >&2
    exit 1
fi

# Build from a clean copy of the sources so the checkout gets no build/ or egg-info
# droppings and nothing outside the package (tests, data, .venv) can leak in.
STAGE=$(mktemp -d)
trap 'rm -rf -- "$STAGE"' EXIT
for item in pyproject.toml README.md LICENSE bot retrieval; do
    if [ -e "$SRC/$item" ]; then
        cp -R -- "$SRC/$item" "$STAGE/"
    fi
done
[ -e "$STAGE/README.md" ] || : >"$STAGE/README.md"
find "$STAGE" -name __pycache__ -type d -prune -exec rm -rf {} +

echo "==> creating virtualenv $PREFIX"
"$PYTHON" -m venv -- "$PREFIX"

echo "==> installing corpusbot into $PREFIX"
"$PREFIX/bin/python" -m pip install --no-input --disable-pip-version-check --quiet "$STAGE"

# The BM25 engine's compiled loops are built now, not on the bot's first start (4-5 s):
# the Docker image and the systemd unit copy this cache to their writable
# NUMBA_CACHE_DIR. Compiling again is needed only if the CPU or the sources differ.
echo "==> compiling the search engine's kernels into $PREFIX/kernel-cache"
NUMBA_CACHE_DIR="$PREFIX/kernel-cache" "$PREFIX/bin/python" -m retrieval.engine

echo "==> copying seed articles to $SEEDS_DIR"
mkdir -p -- "$SEEDS_DIR"
cp -- "$SRC"/seeds/*.txt "$SEEDS_DIR/"

"$PREFIX/bin/corpusbot" --help >/dev/null
echo "==> installed: $PREFIX/bin/corpusbot (seed articles in $SEEDS_DIR)"
