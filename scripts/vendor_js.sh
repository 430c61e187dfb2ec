#!/usr/bin/env bash
# Vendors the graph library `kgsynth view` draws with into the package, so the viewer fetches
# nothing at run time (no CDN). Run from anywhere when bumping the version; commit the result.
# Needs npm and the npm registry; the tarball is checked against the integrity hash below.
set -euo pipefail
NAME=cytoscape
VERSION=3.35.0
INTEGRITY="sha512-sMvBIXiGMnhkCaWz2R06FwF/27MNlS+Tqvi17foO9UhnUg3XGZccKjxsvEqQFAQYMSSZmN5SxYzUYlQ0DOJJ3g=="
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$REPO/kgsynth/view/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "$NAME@$VERSION" >/dev/null
TGZ="$NAME-$VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
    echo "error: $TGZ: integrity $GOT, expected $INTEGRITY" >&2
    exit 1
fi
tar xzf "$TGZ"
mkdir -p "$DEST"
cp package/dist/cytoscape.min.js "$DEST/cytoscape.min.js"
cp package/LICENSE "$DEST/cytoscape.LICENSE"
echo "$NAME $VERSION $INTEGRITY" >"$DEST/VERSIONS"
echo "vendored $NAME $VERSION into $DEST"
