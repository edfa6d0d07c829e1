"""The report screenshots in docs/, made and checked in a real browser.

Writes the HTML report of a run directory and of a suite directory, opens each in headless
Chromium at a given width (1,400 px by default), checks that nothing is cut off (the page
does not scroll sideways: every wide table scrolls inside its own box) and saves a full-page
PNG of each: docs/report.png and docs/suite_report.png.

    python benchmarks/screenshots.py --run results/quick-... --suite results/mine-... \\
        [--chromium /usr/bin/chromium] [--width 1400] [--out docs]

Chromium is driven through its DevTools protocol (aiohttp, which Ray already installs), so
any Chromium or headless-shell build works: $CROSSREG_CHROMIUM, else /usr/bin/chromium. Exit
status 1 if a page overflows its width.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

MEASURE = """JSON.stringify({scroll: document.documentElement.scrollWidth,
  client: document.documentElement.clientWidth, height: document.documentElement.scrollHeight,
  images: Array.from(document.images).map(i => i.getBoundingClientRect().right)})"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_chromium(exe: str, profile: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen([exe, "--headless", "--no-sandbox", "--no-zygote", "--disable-gpu",
                             "--hide-scrollbars", f"--remote-debugging-port={port}",
                             f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{exe} did not open its DevTools port")


async def shoot(port: int, page: Path, png: Path, width: int) -> dict[str, Any]:
    """Open `page` at `width` px, measure it, save a full-page screenshot."""
    import aiohttp

    req = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
    target = json.loads(urllib.request.urlopen(req, timeout=10).read())
    ids = iter(range(1, 1_000_000))
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
        async def call(method: str, **params: Any) -> dict[str, Any]:
            n = next(ids)
            await ws.send_json({"id": n, "method": method, "params": params})
            while True:
                msg = json.loads((await ws.receive()).data)
                if msg.get("id") == n:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return dict(msg.get("result", {}))

        await call("Emulation.setDeviceMetricsOverride", width=width, height=900,
                   deviceScaleFactor=1, mobile=False)
        await call("Page.enable")
        await call("Page.navigate", url=page.resolve().as_uri())
        for _ in range(100):  # until loaded (every image is inline: no network)
            state = await call("Runtime.evaluate", expression="document.readyState")
            if state["result"]["value"] == "complete":
                break
            await asyncio.sleep(0.1)
        value = await call("Runtime.evaluate", expression=MEASURE)
        measured: dict[str, Any] = json.loads(value["result"]["value"])
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": width, "height": measured["height"],
                                "scale": 1})
        png.write_bytes(base64.b64decode(shot["data"]))
    return measured


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="an experiment run directory")
    p.add_argument("--suite", required=True, help="a suite directory")
    p.add_argument("--chromium", default=os.environ.get("CROSSREG_CHROMIUM", "/usr/bin/chromium"))
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs"))
    args = p.parse_args()
    if not Path(args.chromium).exists():
        raise SystemExit(f"--chromium {args.chromium}: not found (or set $CROSSREG_CHROMIUM)")
    Path(args.out).mkdir(parents=True, exist_ok=True)  # before minutes of report writing
    from analysis.report import write_report
    from analysis.suite_report import write_suite_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reports print their own load warnings
        pages = {"report.png": write_report(args.run, Path(args.run) / "report.html"),
                 "suite_report.png": write_suite_report(args.suite, Path(args.suite) / "report.html")}
    failed = False
    with tempfile.TemporaryDirectory() as profile:
        proc, port = start_chromium(args.chromium, profile)
        try:
            for name, page in pages.items():
                m = asyncio.run(shoot(port, Path(page), Path(args.out) / name, args.width))
                widest = max([m["scroll"], *m["images"]])
                ok = m["scroll"] <= m["client"] and widest <= args.width
                failed |= not ok
                print(f"{name}: {args.width} px wide page, content {m['scroll']} px, widest "
                      f"image edge {max(m['images'], default=0):.0f} px, height {m['height']} px: "
                      f"{'fits' if ok else 'OVERFLOWS'}")
        finally:
            proc.kill()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
