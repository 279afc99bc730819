#!/usr/bin/env bash
# Render an HTML report in headless Chromium and save a screenshot, to check
# by eye that it shows what it should (plots, tables, findings) with nothing
# loaded from outside: Chromium runs with networking disabled for the page.
#
#   docs/check_html.sh REPORT.html [SHOT.png] [HEIGHT]
#
# Needs Chromium (Debian: apt-get install chromium). Exits 1 if the report
# references anything outside itself or the screenshot was not written.
set -euo pipefail

report="${1:?usage: docs/check_html.sh REPORT.html [SHOT.png] [HEIGHT]}"
shot="${2:-${report%.html}.png}"
height="${3:-3000}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$browser" ] || { echo "check_html: no Chromium found (apt-get install chromium)" >&2; exit 2; }

# The report must be self-contained: no http(s) or protocol-relative src/href.
if grep -Eiq "(src|href)=[\"']?(https?:)?//|url\((https?:)?//|<script|<link" "$report"; then
  echo "check_html: $report references something outside itself" >&2
  exit 1
fi

rm -f "$shot"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --proxy-server="127.0.0.1:9" --proxy-bypass-list="<-loopback>" \
  --window-size="1400,${height}" --screenshot="$shot" \
  "file://$(realpath "$report")" >/dev/null 2>&1 || true
[ -s "$shot" ] || { echo "check_html: no screenshot written" >&2; exit 1; }
echo "check_html: $report -> $shot"
