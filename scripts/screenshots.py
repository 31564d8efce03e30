"""Render the HTML report and the live page of a demo run to docs/img/report.png and live.png.

Usage: ``.venv/bin/python scripts/screenshots.py [--out-dir docs/img]`` (``make screenshots``).
Needs the system Chromium (``apt-get install chromium``, or set ``ACTIONTRACE_CHROMIUM``); it is
driven by the pinned Python ``playwright`` without ``playwright install``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from actiontrace import read_traces
from actiontrace.analysis.html import write_html_report

ROOT = Path(__file__).resolve().parent.parent
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 900}


def find_browser() -> str | None:
    """Find the system Chromium: ``ACTIONTRACE_CHROMIUM``, else ``chromium`` on the PATH."""
    return os.environ.get("ACTIONTRACE_CHROMIUM") or shutil.which("chromium")


def run_demo(out: Path) -> None:
    """Play the demo session (seed 7) into ``out``."""
    subprocess.run(
        [sys.executable, "-m", "actiontrace", "demo", "--out", str(out), "--seed", "7"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_server(traces: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``actiontrace serve`` on a free port; return the process and its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "actiontrace", "serve", str(traces), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    url = next((word for word in line.split() if word.startswith("http://")), None)
    if url is None:
        server.terminate()
        server.wait(10)
        raise SystemExit(f"screenshots: serve did not print its URL: {line!r}")
    return server, url


def main(argv: list[str] | None = None) -> int:
    """Write the two screenshots; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--only", choices=("report", "live"), default=None)
    parser.add_argument(
        "--traces", type=Path, default=None, help="use a copy of these traces instead of a demo run"
    )
    args = parser.parse_args(argv)
    browser_path = find_browser()
    if browser_path is None:
        print(
            "screenshots: no system Chromium; run `apt-get install chromium` (as root) "
            "or set ACTIONTRACE_CHROMIUM",
            file=sys.stderr,
        )
        return 1
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temp, sync_playwright() as playwright:
        traces = Path(temp) / "traces"
        if args.traces is not None:
            shutil.copytree(args.traces, traces)
        elif args.only != "live":
            run_demo(traces)
        browser = playwright.chromium.launch(executable_path=browser_path, args=BROWSER_ARGS)
        try:
            if args.only in (None, "report"):
                report = write_html_report(traces, Path(temp) / "report.html")
                page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
                page.goto(report.as_uri())
                page.wait_for_selector("body[data-rendered]")
                target = args.out_dir / "report.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"screenshots: wrote {target}")
            if args.only in (None, "live"):
                # The live page watches an empty folder while the session arrives in it.
                live = Path(temp) / "live"
                live.mkdir()
                server, url = start_server(live)
                try:
                    page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
                    page.goto(url)
                    page.wait_for_selector("#live:not([hidden])")
                    if args.traces is not None:
                        shutil.copytree(traces, live, dirs_exist_ok=True)
                    else:
                        run_demo(live)
                    total = sum(1 for _ in read_traces(live))
                    page.wait_for_selector(f'#total[data-value="{total}"]', timeout=10_000)
                    target = args.out_dir / "live.png"
                    page.screenshot(path=str(target))
                    print(f"screenshots: wrote {target}")
                finally:
                    server.terminate()
                    server.wait(10)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
