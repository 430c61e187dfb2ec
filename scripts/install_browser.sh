#!/usr/bin/env bash
# The browser the tests drive `kgsynth view` with: Debian's chromium and its chromedriver
# (tests/test_view.py; nothing is downloaded by selenium or the tests themselves).
# Installs them with apt-get when either is missing: as root, or through sudo when there is one.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "error: chromium and chromium-driver are missing; install them as root" >&2
        exit 1
    fi
    SUDO=sudo
fi
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
