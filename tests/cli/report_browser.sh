#!/usr/bin/env bash
# The report of two tiny runs (fixed and learned) rendered by headless Chromium, Debian's
# `chromium`, as a person would open it from disk:
#   1. the page logs nothing to the console (it holds no script; a fetch blocked by its
#      Content-Security-Policy or a missing file would log an error), checked against a control
#      page that does log one, so that a Chromium whose logging changed fails instead of passing;
#   2. the screenshot is written and is not a blank page;
#   3. every chart's SVG has a plot area of non-zero size with something drawn inside it, and the
#      page is no wider than the window (a script added to a copy of the page measures the laid-out
#      page and writes the result into the DOM, which --dump-dom prints).
# Exit 77 (meson: skipped) when chromium is not installed; scripts/test installs it.
# REINPATCH_SCREENSHOT=FILE keeps the screenshot.
set -euo pipefail
bin="${REINPATCH_BUILD_ROOT:-$(pwd)/build}/cli/reinpatch"
src="${REINPATCH_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "chromium is not installed: skipped (scripts/test installs it)"
    exit 77
fi
work=$(mktemp -d /tmp/reinpatch-browser-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
cp "$src/tests/data/tiny.yaml" tiny.yaml
"$bin" train tiny.yaml --quiet --set train.epochs=3 --out learned > /dev/null
"$bin" train tiny.yaml --quiet --set train.epochs=3 --set levels[0].patching=fixed --set name=tiny_fixed --out fixed > /dev/null
"$bin" report fixed learned --out report.html

# One Chromium run: headless, no sandbox (CI runs as root), its own profile, no network needed.
chrome() {
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --disable-extensions --disable-background-networking --user-data-dir="$work/profile" \
        --window-size=1280,2000 "$@"
}

# 1 and 2
chrome --enable-logging=stderr --v=0 --screenshot="$work/shot.png" "file://$work/report.html" > /dev/null 2> console.log || true
if grep -a "CONSOLE" console.log; then
    echo "FAIL: the report logged to the console"
    exit 1
fi
cp report.html control.html
sed -i 's|<main>|<main><img src="missing.png" alt="">|' control.html
chrome --enable-logging=stderr --v=0 --screenshot="$work/control.png" "file://$work/control.html" > /dev/null 2> control.log || true
if ! grep -aq "CONSOLE" control.log; then
    echo "FAIL: the control page's blocked image logged nothing: console messages are not seen here"
    tail -5 control.log
    exit 1
fi
size=$(stat -c %s shot.png 2> /dev/null || echo 0)
if [ "$size" -lt 20000 ]; then
    echo "FAIL: screenshot missing or blank ($size bytes)"
    exit 1
fi
[ -n "${REINPATCH_SCREENSHOT:-}" ] && cp shot.png "$REINPATCH_SCREENSHOT"

# 3
sed -e "s|default-src 'none'; style-src 'unsafe-inline'|default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'|" \
    -e 's|</body>|<script>\
let bad = [], charts = document.querySelectorAll("svg.chart");\
for (const svg of charts) {\
  const name = svg.getAttribute("aria-label"), area = svg.querySelector(".plot-area");\
  if (!area) { bad.push("no plot area: " + name); continue; }\
  const a = area.getBoundingClientRect();\
  if (!(a.width > 1 \&\& a.height > 1)) { bad.push("empty plot area: " + name); continue; }\
  let inside = 0;\
  for (const d of svg.querySelectorAll(".data")) {\
    const r = d.getBoundingClientRect();\
    if ((r.width > 0 \|\| r.height > 0) \&\& r.right >= a.left \&\& r.left <= a.right \&\& r.bottom >= a.top \&\& r.top <= a.bottom) inside++;\
  }\
  if (!inside) bad.push("nothing drawn in the plot area: " + name);\
}\
if (document.documentElement.scrollWidth > window.innerWidth) bad.push("page wider than the window: " + document.documentElement.scrollWidth);\
const out = document.createElement("pre");\
out.id = "browser-check";\
out.textContent = "charts=" + charts.length + " bad=" + bad.length + "\\n" + bad.join("\\n");\
document.body.appendChild(out);\
</script></body>|' report.html > check.html
chrome --dump-dom "file://$work/check.html" > dom.html 2> /dev/null || true
result=$(sed -n '/<pre id="browser-check">/,/<\/pre>/p' dom.html)
echo "$result"
charts=$(grep -c '<svg class="chart"' report.html)
case "$result" in
    *"charts=$charts bad=0"*) echo "ok: $charts charts, no console message, screenshot $size bytes" ;;
    *) echo "FAIL: the chart check did not pass (expected $charts charts)"; exit 1 ;;
esac
