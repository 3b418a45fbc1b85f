#!/bin/sh
# A screenshot of a compliance report as a reader sees it, with Debian's headless Chromium (for the docs).
#   scripts/report-screenshot.sh [REPORT] [PNG] [WIDTH,HEIGHT]
# Defaults: reports/report.html, docs/images/report.png, 1280,1800 (the verdict, summary and "since the last
# run" of a typical run). Chromium: `bash scripts/ensure-host-packages.sh` installs it.
set -eu
report="${1:-reports/report.html}"
png="${2:-docs/images/report.png}"
size="${3:-1280,1800}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
    echo "report-screenshot: chromium not found; bash scripts/ensure-host-packages.sh installs it" >&2
    exit 1
fi
[ -f "$report" ] || { echo "report-screenshot: $report not found; run the suite first" >&2; exit 1; }
sandbox=""
[ "$(id -u)" = 0 ] && sandbox="--no-sandbox"  # Chromium refuses root without it; the page is our own file
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$png")"
out="$(realpath -m "$png")"
rm -f "$out"
# shellcheck disable=SC2086  # $sandbox is one flag or none
"$browser" --headless $sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size="$size" --screenshot="$out" "file://$(realpath "$report")" \
    >"$profile/log" 2>&1 || true
if [ ! -s "$out" ]; then
    echo "report-screenshot: chromium wrote no screenshot:" >&2
    tail -5 "$profile/log" >&2
    exit 1
fi
echo "report-screenshot: $png"
