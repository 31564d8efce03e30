"""The HTML report and the live page in a real Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from actiontrace import ActionExecutionTrace, ActionTraceOutputService, read_traces
from actiontrace.analysis.html import write_html_report
from actiontrace.analysis.serve import LiveServer

HOSTILE = [
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=1">',
    "</script>",
]


def report_json(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "actiontrace", "report", str(path), "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def open_report(watched: Any, traces: Path, target: Path) -> Any:
    page = watched.page
    page.goto(write_html_report(traces, target).as_uri())
    page.wait_for_selector("body[data-rendered]")
    return page


def test_report_page_is_clean_and_shows_the_reports_numbers(
    watched: Any, demo_traces: Path, tmp_path: Path
) -> None:
    target = tmp_path / "report.html"
    page = open_report(watched, demo_traces, target)
    expected = report_json(demo_traces)
    assert watched.errors == []
    assert watched.requests == [target.as_uri()]  # nothing loaded but the file itself
    assert int(page.get_attribute("#total", "data-value")) == expected["total"]
    shown = page.eval_on_selector_all(
        "#actions tr[data-action]",
        """rows => rows.map(row => [row.getAttribute('data-action'),
            Object.fromEntries(Array.from(row.querySelectorAll('td[data-key]')).map(
                td => [td.getAttribute('data-key'), td.getAttribute('data-value')]))])""",
    )
    assert [name for name, _ in shown] == list(expected["actions"])
    for name, cells in shown:
        for key, text in cells.items():
            value = expected["actions"][name][key]
            assert (float(text) if text else None) == value, (name, key)
    error_counts = dict(
        page.eval_on_selector_all(
            "#errors tr[data-error-type]",
            "rows => rows.map(r => [r.getAttribute('data-error-type'),"
            " Number(r.querySelector('td[data-value]').getAttribute('data-value'))])",
        )
    )
    assert error_counts == {k: v["count"] for k, v in expected["errorTypes"].items()}
    durations = page.eval_on_selector_all(
        "#slowest tr[data-duration]",
        "rows => rows.map(r => Number(r.getAttribute('data-duration')))",
    )
    assert durations == [entry["duration"] for entry in expected["slowest"]]


def test_timeline_has_one_lane_per_actor_and_a_click_shows_the_trace(
    watched: Any, demo_traces: Path, tmp_path: Path
) -> None:
    page = open_report(watched, demo_traces, tmp_path / "report.html")
    actors = sorted({t["metadata"]["actorId"] for t in read_traces(demo_traces)})
    lanes = page.eval_on_selector_all(
        "#timeline g.lane", "lanes => lanes.map(l => l.getAttribute('data-actor'))"
    )
    assert lanes == actors
    bar = page.locator("#timeline rect.bar.s-error").first
    trace_id = bar.get_attribute("data-trace-id") or "(none)"
    bar.click()
    assert page.text_content('#details [data-field="status"]') == "error"
    assert page.text_content('#details [data-field="traceId"]') == trace_id
    assert "Status: error" in (page.text_content('#details [data-field="summary"]') or "")
    assert watched.errors == []


def hostile_traces(folder: Path) -> None:
    folder.mkdir()
    lines = []
    for n, text in enumerate(HOSTILE):
        lines.append(
            {
                "metadata": {
                    "actionId": text,
                    "actorId": HOSTILE[(n + 1) % 3],
                    "traceId": text,
                    "spanId": text,
                    "parentSpanId": None,
                    "traceType": "execution",
                },
                "turnAction": {"actionDefinitionId": text, "commandString": text},
                "execution": {
                    "status": "error",
                    "duration": 1.0 + n,
                    "startEpochNs": 1_800_000_000_000_000_000 + n * 1_000_000,
                },
                "eventPayload": {"html": text, text: text},
                "result": None,
                "error": {"type": text, "message": text},
            }
        )
    (folder / "t.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_hostile_values_show_as_text_and_run_nothing(watched: Any, tmp_path: Path) -> None:
    hostile_traces(tmp_path / "hostile")
    page = open_report(watched, tmp_path / "hostile", tmp_path / "hostile.html")
    for bar in page.locator("#timeline rect.bar").all():
        bar.click()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0
    actions = page.eval_on_selector_all(
        "#actions tr[data-action]", "rows => rows.map(r => r.querySelector('td').textContent)"
    )
    assert sorted(actions) == sorted(HOSTILE)
    payload = page.text_content('#details [data-field="payload"]') or ""
    assert any(text in payload for text in HOSTILE)
    assert watched.errors == []


def test_live_page_shows_a_trace_written_after_it_opened(
    watched: Any, demo_traces: Path, tmp_path: Path
) -> None:
    traces = tmp_path / "live"
    shutil.copytree(demo_traces, traces)
    with LiveServer(traces, port=0, poll_interval=0.1) as live:
        page = watched.page
        page.goto(live.url)
        page.wait_for_selector("#live:not([hidden])")
        page.wait_for_selector("#live-text:text('live')")
        with ActionTraceOutputService(traces / "later") as service:
            trace = ActionExecutionTrace(
                action_id="test:late",
                actor_id="zed",
                turn_action={"actionDefinitionId": "test:late"},
            )
            trace.capture_dispatch_start()
            trace.capture_dispatch_result({"success": True})
            service.write_trace(trace)
        page.wait_for_selector('#latest tr[data-action="test:late"]', timeout=5000)
        page.wait_for_selector('#timeline g.lane[data-actor="zed"]', timeout=5000)
        origin = live.url.rstrip("/")
        assert all(url.startswith(origin + "/") for url in watched.requests), watched.requests
        assert watched.errors == []


def polish_traces(folder: Path) -> None:
    """Errors with a cause chain, failures, a structured trace, a damaged line, a skipped file."""
    folder.mkdir()
    lines = []
    for n in range(6):
        trace = ActionExecutionTrace(
            action_id=f"core:a{n % 3}",
            actor_id=f"p{n % 2}",
            turn_action={"actionDefinitionId": "x"},
        )
        trace.capture_dispatch_start()
        if n % 3 == 0:
            try:
                try:
                    raise KeyError(f"inner {n}")
                except KeyError as inner:
                    raise RuntimeError(f"outer {n}") from inner
            except RuntimeError as error:
                trace.capture_error(error)
        else:
            trace.capture_dispatch_result({"success": n % 3 == 1})
        lines.append(trace.to_json())
    lines.append(json.dumps({"metadata": {"traceType": "structured"}, "spans": []}))
    lines.append("{damaged")
    (folder / "t.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "zero.jsonl").symlink_to("/dev/zero")


def test_page_lists_errors_first_opens_every_row_and_shows_stack_and_damage(
    watched: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "polish"
    polish_traces(folder)
    expected = report_json(folder)
    page = open_report(watched, folder, tmp_path / "polish.html")
    assert int(page.get_attribute("#total", "data-value")) == expected["total"] == 6
    assert int(page.get_attribute("#skipped", "data-value")) == 2
    assert "1 lines · 1 files" in (page.text_content("#skipped") or "")
    statuses = page.eval_on_selector_all(
        "#errors tr.pick[data-seq] .pill", "pills => pills.map(p => p.textContent)"
    )
    assert statuses == ["error", "error", "failed", "failed"]
    page.click('#errors tr[data-error-type="RuntimeError"]')
    error = page.text_content('#details [data-field="error"]') or ""
    assert error.startswith("RuntimeError: outer") and "Traceback" in error
    cause = page.text_content('#details [data-field="cause-1"]') or ""
    assert cause.startswith("KeyError: 'inner")
    rows = page.locator("#slowest tr[data-duration]")
    assert rows.count() == len(expected["slowest"]) == 6
    for index, entry in enumerate(expected["slowest"]):
        rows.nth(index).click()
        where = page.text_content('#details [data-field="file"]')
        assert where == f"{entry['file']}:{entry['line']}"
    assert "1 damaged lines skipped" in (page.text_content("#footer") or "")
    assert watched.errors == []
