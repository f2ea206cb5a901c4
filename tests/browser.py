"""Headless Chromium for the report tests: find the browser, take a screenshot, check images.

Debian's ``chromium`` package is the browser (``.ci/run`` installs it when it
is missing). ``GRIDCREDIT_CHROMIUM`` may name another binary. Each call runs
a fresh browser with its own throw-away profile and no network features, so
runs do not share state and nothing is fetched from outside.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = "install it with: apt-get install -y chromium (or set GRIDCREDIT_CHROMIUM)"
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
_PROBE_ID = "gridcredit-image-check"
_PROBE = """<script>
window.addEventListener("load", function () {
  var out = [];
  for (var img of document.images) {
    out.push({alt: img.alt, complete: img.complete,
              width: img.naturalWidth, height: img.naturalHeight});
  }
  var pre = document.createElement("pre");
  pre.id = "PROBE_ID";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>""".replace("PROBE_ID", _PROBE_ID)


class BrowserError(RuntimeError):
    """Chromium ran but did not produce what was asked; the message carries its stderr."""


def find_chromium() -> str | None:
    """The Chromium binary to use, or None when none is installed."""
    override = os.environ.get("GRIDCREDIT_CHROMIUM")
    if override:
        return override if shutil.which(override) or Path(override).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name) if not name.startswith("/") else (
            name if Path(name).is_file() else None)
        if found:
            return found
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    binary = find_chromium()
    if binary is None:
        raise BrowserError(f"chromium not found; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="gridcredit-chromium-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"chromium did not finish within {timeout:g} s: "
                               f"{' '.join(command)}") from exc


def screenshot(page: Path, png: Path, *, width: int = 1200, height: int = 4000,
               timeout: float = 60.0) -> Path:
    """Render ``page`` in headless Chromium and save a ``width`` x ``height`` PNG."""
    png = Path(png).resolve()
    done = _run([f"--screenshot={png}", f"--window-size={width},{height}",
                 "--virtual-time-budget=5000", Path(page).resolve().as_uri()], timeout)
    if not png.is_file() or png.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    return png


def image_states(page: Path, *, timeout: float = 60.0) -> list[dict]:
    """Load ``page`` and report each ``<img>``: alt, complete, naturalWidth, naturalHeight.

    A copy of the page gets a small script that records the images' state at
    the load event; the page itself stays script-free.
    """
    text = Path(page).read_text(encoding="utf-8")
    if "</body>" not in text:
        raise BrowserError(f"{page}: no </body> to attach the image probe to")
    with tempfile.TemporaryDirectory(prefix="gridcredit-probe-") as folder:
        probe = Path(folder) / "probe.html"
        probe.write_text(text.replace("</body>", _PROBE + "</body>", 1), encoding="utf-8")
        done = _run(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], timeout)
    found = re.search(rf'<pre id="{_PROBE_ID}">(.*?)</pre>', done.stdout, re.S)
    if not found:
        raise BrowserError(f"the image probe did not run (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    return json.loads(html.unescape(found.group(1)))


def page_text(page: Path, *, timeout: float = 60.0) -> str:
    """The text of ``page`` as Chromium's DOM holds it after load (tags and styles dropped)."""
    done = _run(["--virtual-time-budget=5000", "--dump-dom", Path(page).resolve().as_uri()],
                timeout)
    if "<body" not in done.stdout:
        raise BrowserError(f"chromium dumped no DOM (exit {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", done.stdout, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return struct.unpack(">II", data[16:24])
