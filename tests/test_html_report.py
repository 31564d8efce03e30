"""The HTML report: one self-contained, escaped page whose numbers are the report's."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actiontrace import InvalidArgumentError
from actiontrace.analysis import html as html_module
from actiontrace.analysis.html import (
    LiveData,
    PageData,
    embed_json,
    page_data,
    page_security_policy,
    render_page,
    write_html_report,
)
from actiontrace.analysis.report import report_path
from actiontrace.cli import main

HOSTILE = [
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=1">',
    "</script>",
]
DATA_BLOCK = re.compile(r'<script type="application/json" id="data">(.*?)</script>', re.S)


def make_trace(
    n: int,
    *,
    action: str = "core:go",
    actor: str = "p1",
    status: str = "success",
    duration: float | None = 1.0,
    start: int | None = 1_800_000_000_000_000_000,
    **meta: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"actionId": action, "actorId": actor, "traceType": "execution", **meta},
        "turnAction": {"actionDefinitionId": action, "commandString": f"do {n}", "parameters": {}},
        "execution": {
            "status": status,
            "duration": duration,
            "startEpochNs": None if start is None else start + n * 1_000_000,
        },
        "eventPayload": {"n": n},
        "result": None if status == "error" else {"success": status == "success"},
        "error": {"type": "BoomError", "message": f"boom {n}"} if status == "error" else None,
    }


def write_jsonl(path: Path, traces: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in traces))
    return path


def embedded(page: str) -> dict[str, Any]:
    match = DATA_BLOCK.search(page)
    assert match is not None
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_page_numbers_are_the_reports_numbers(demo_traces: Path, tmp_path: Path) -> None:
    target = write_html_report(demo_traces, tmp_path / "out" / "report.html")
    data = embedded(target.read_text())
    expected = report_path(demo_traces)
    for key in ("total", "actions", "errorTypes", "slowest", "files", "corrupt"):
        assert data["report"][key] == expected[key]
    assert data["report"]["total"] >= 20
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_page_loads_nothing_from_elsewhere(demo_traces: Path, tmp_path: Path) -> None:
    page = write_html_report(demo_traces, tmp_path / "r.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""\b(src|href)\s*=""", page, re.I)
    assert "@import" not in page and "url(" not in page


def test_cli_report_html_writes_the_page(demo_traces: Path, tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "cli.html"
    assert main(["report", str(demo_traces), "--html", str(target), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert embedded(target.read_text())["report"]["actions"] == printed["actions"]


def test_embedded_json_cannot_close_its_script_block() -> None:
    value = {"x": [*HOSTILE, "<!--", "a & b", "\u2028\u2029", "]]>"]}
    text = embed_json(value)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == value


def test_hostile_values_stay_inside_the_data_block(tmp_path: Path) -> None:
    traces = [
        make_trace(i, action=HOSTILE[i % 3], actor=HOSTILE[(i + 1) % 3], traceId=HOSTILE[2])
        for i in range(6)
    ]
    for trace in traces:
        trace["eventPayload"] = {"html": HOSTILE}
    page = render_page(page_data(write_jsonl(tmp_path / "t.jsonl", traces)))
    assert page.count("<script") == 2  # the data block and the page's own script
    assert page.count("</script>") == 2
    assert "onerror" not in page.split('id="data">', 1)[0]
    assert embedded(page)["page"]["bars"][0]["payload"] == json.dumps(
        {"html": HOSTILE}, separators=(",", ":"), ensure_ascii=False
    )


def test_placeholders_inside_the_data_are_not_expanded(tmp_path: Path) -> None:
    trace = make_trace(1, action="{{JS}}{{CSS}}")
    page = render_page(page_data(write_jsonl(tmp_path / "t.jsonl", [trace])))
    assert embedded(page)["report"]["actions"].keys() == {"{{JS}}{{CSS}}"}


def test_security_policy_allows_exactly_the_inline_script_and_style(tmp_path: Path) -> None:
    page = render_page(page_data(write_jsonl(tmp_path / "t.jsonl", [make_trace(1)])))
    script = page.rsplit("<script>", 1)[1].split("</script>", 1)[0]
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    policy = page_security_policy()

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src 'sha256-{digest(script)}'" in policy
    assert f"style-src 'sha256-{digest(style)}'" in policy
    assert "default-src 'none'" in policy
    assert 'http-equiv="Content-Security-Policy"' in page


def test_title_is_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "<b>x&y"
    folder.mkdir()
    write_jsonl(folder / "t.jsonl", [make_trace(1)])
    page = render_page(page_data(folder))
    assert "<title>actiontrace — " + str(tmp_path) + "/&lt;b&gt;x&amp;y</title>" in page


def test_write_html_report_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError):
        write_html_report(tmp_path / "missing", tmp_path / "r.html")
    with pytest.raises(InvalidArgumentError, match="html_file"):
        write_html_report(tmp_path, 3)  # type: ignore[arg-type]
    write_jsonl(tmp_path / "t.jsonl", [make_trace(1)])

    def refuse(*args: Any) -> None:
        raise PermissionError(13, "denied")

    monkeypatch.setattr(html_module.os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_html_report(tmp_path, tmp_path / "out" / "r.html")
    assert os.listdir(tmp_path / "out") == []  # no temporary file left behind


# -- PageData: what the pictures need, bounded -----------------------------------------------------


def test_lanes_span_histograms_and_status_counts() -> None:
    page = PageData()
    page.add(make_trace(0, actor="b", duration=1.0), "f", 1)
    page.add(make_trace(1, actor="a", status="failed", duration=2.0), "f", 2)
    page.add(make_trace(2, actor="a", status="error", duration=4.0), "f", 3)
    page.add(make_trace(3, actor="a", duration=None, start=None), "f", 4)
    page.add(make_trace(4, actor="a", duration=0.0), "g", 1)
    data = page.snapshot()
    assert data["actors"] == [
        {"id": "a", "count": 4, "failed": 1, "error": 1},
        {"id": "b", "count": 1, "failed": 0, "error": 0},
    ]
    assert data["span"]["end"] == pytest.approx(4.0 + 2.0)  # trace 2 starts 2 ms in, lasts 4 ms
    histogram = data["histograms"]["core:go"]
    assert sum(histogram["counts"]) == 3  # durations 1, 2, 4 ms (0 and None are not drawn)
    low = histogram["low"]
    edges = [2 ** ((low + i) / 4) for i in range(len(histogram["counts"]) + 1)]
    for value in (1.0, 2.0, 4.0):
        index = next(i for i in range(len(edges) - 1) if edges[i] <= value < edges[i + 1])
        assert histogram["counts"][index] >= 1
    assert data["timeline"] | {"limits": None} == {
        "shown": 4,
        "timed": 4,
        "total": 5,
        "problems": 2,
        "sampled": False,
        "limits": None,
    }
    assert data["files"] == 2
    assert [bar["start"] for bar in data["bars"]] == [0.0, 1.0, 2.0, 4.0]
    assert data["latest"][0]["seq"] == 5 and data["latest"][0]["start"] == 4.0
    assert data["latest"][1]["start"] is None


def test_other_trace_types_and_non_traces_are_not_drawn() -> None:
    page = PageData()
    page.add({"metadata": {"traceType": "structured"}, "spans": []})
    page.add(["not", "a", "trace"])
    page.add({"metadata": "odd", "execution": None})
    page.add({"metadata": {"traceType": "execution"}, "execution": None})
    data = page.snapshot()
    assert data["timeline"]["total"] == 1
    assert data["actors"] == [{"id": "?", "count": 1, "failed": 0, "error": 0}]


@pytest.mark.parametrize(
    ("trace", "status"),
    [
        ({"metadata": {"traceType": "execution"}, "error": {"type": "X"}}, "error"),
        ({"metadata": {"traceType": "execution"}, "result": {"success": True}}, "success"),
        ({"metadata": {"traceType": "execution"}, "result": {"success": False}}, "failed"),
        ({"metadata": {"traceType": "execution"}}, "unknown"),
    ],
)
def test_status_of_traces_without_one_is_derived(trace: dict[str, Any], status: str) -> None:
    trace["execution"] = {"startEpochNs": 5}
    page = PageData()
    page.add(trace)
    assert page.snapshot()["bars"][0]["status"] == status


def test_bar_texts_are_clipped_and_errors_summarised() -> None:
    trace = make_trace(1, status="error", action="a" * 1000)
    trace["eventPayload"] = {"big": "x" * 5000}
    odd = make_trace(2)
    odd["error"] = "plain text error"
    page = PageData()
    page.add(trace)
    page.add(odd)
    first, second = page.snapshot()["bars"]
    assert len(first["payload"]) == html_module.PAYLOAD_CHARS + 1 and first["payload"][-1] == "…"
    assert len(first["action"]) == html_module.TEXT_CHARS + 1
    assert first["error"] == "BoomError: boom 1"
    assert second["error"] is None  # an error that is not an error record is not shown as one


def test_timeline_keeps_every_problem_the_slowest_and_a_bounded_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(html_module, "TIMELINE_SAMPLE", 50)
    monkeypatch.setattr(html_module, "TIMELINE_PROBLEMS", 20)
    monkeypatch.setattr(html_module, "TIMELINE_SLOWEST", 5)
    page = PageData()
    for n in range(3000):
        status = "error" if n % 300 == 0 else "success"
        page.add(make_trace(n, status=status, duration=float(n % 1000) + 1))
    data = page.snapshot()
    seqs = {bar["seq"] for bar in data["bars"]}
    assert len(seqs) <= 75
    assert {n + 1 for n in range(0, 3000, 300)} <= seqs  # all 10 errors
    slowest = {n + 1 for n in range(3000) if n % 1000 == 999}  # duration 1000 ms, three of them
    assert slowest <= seqs
    assert data["timeline"]["sampled"] is True
    assert data["timeline"]["shown"] == len(data["bars"])


def test_problem_reservoir_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_module, "TIMELINE_PROBLEMS", 10)
    page = PageData()
    for n in range(500):
        page.add(make_trace(n, status="failed"))
    data = page.snapshot()
    assert data["timeline"]["problems"] == 500
    assert sum(bar["status"] == "failed" for bar in data["bars"]) <= 10 + 2000


def synthetic(count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        status = "error" if n % 5 == 0 else "success"
        yield make_trace(
            n,
            actor=f"actor-{n % 8}",
            status=status,
            duration=(n % 500) / 10 + 0.01,
            traceId=f"{n // 3:032x}",
            spanId=f"{n:016x}",
            parentSpanId=None if n % 3 == 0 else f"{n - n % 3:016x}",
        )


def retained_after(count: int) -> int:
    page = PageData()
    tracemalloc.start()
    try:
        for trace in synthetic(count):
            page.add(trace, "file.jsonl", 1)
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_page_memory_does_not_grow_with_the_number_of_traces() -> None:
    # Past the caps (2,000 sampled bars, 1,000 problems, 50 trees...), three times the traces
    # must not cost more memory: nothing is kept per trace. Keeping even one small dict per trace
    # would add > 100 bytes per trace (1.6 MB here); the margin allows for value churn only.
    small, large = retained_after(8_000), retained_after(24_000)
    assert large - small < 16_000 * 32, (small, large)


# -- linked traces ---------------------------------------------------------------------------------


def linked(n: int, trace_id: str, span: str, parent: str | None) -> dict[str, Any]:
    return make_trace(n, traceId=trace_id, spanId=span, parentSpanId=parent)


def test_trees_join_children_written_before_and_after_their_root() -> None:
    page = PageData()
    page.add(linked(0, "t1", "c1", "r1"))  # child first, as nested dispatches finish first
    page.add(linked(1, "t1", "r1", None))
    page.add(linked(2, "t2", "r2", None))  # root first
    page.add(linked(3, "t2", "c2", "r2"))
    page.add(linked(4, "t3", "r3", None))  # a lone root is no tree
    trees = page.snapshot()["trees"]
    shape = {
        t["traceId"]: [(n["spanId"], n["parentSpanId"]) for n in t["nodes"]] for t in trees["trees"]
    }
    assert shape == {"t1": [("c1", "r1"), ("r1", None)], "t2": [("r2", None), ("c2", "r2")]}
    assert trees["children"] == 2 and trees["more"] == 0


def test_trees_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_module, "MAX_TREES", 2)
    monkeypatch.setattr(html_module, "MAX_TREE_NODES", 3)
    monkeypatch.setattr(html_module, "ROOT_CANDIDATES", 2)
    page = PageData()
    for n in range(5):
        page.add(linked(n, "big", f"c{n}", "r"))
    for n in range(3):
        page.add(linked(10 + n, f"root-only-{n}", "r", None))
    page.add(linked(20, "root-only-0", "c", "r"))  # its root was evicted from the candidates
    page.add(linked(21, "third", "c", "r"))  # beyond MAX_TREES
    trees = page.snapshot()["trees"]
    assert [len(t["nodes"]) for t in trees["trees"]] == [3, 1]
    assert trees["more"] == 1
    assert trees["children"] == 7


def test_no_trace_ids_means_no_trees(tmp_path: Path) -> None:
    data = page_data(write_jsonl(tmp_path / "t.jsonl", [make_trace(1), make_trace(2)]))
    assert data["page"]["trees"] == {"trees": [], "children": 0, "more": 0}


def test_live_data_feeds_both_aggregators() -> None:
    live = LiveData("somewhere")
    for n in range(3):
        live.add(make_trace(n), "f.jsonl", n + 1)
    data = live.data(live=True)
    assert data["live"] is True and data["source"] == "somewhere"
    assert data["report"]["total"] == 3 and data["page"]["timeline"]["total"] == 3
    assert data["report"]["slowest"][0]["file"] == "f.jsonl"
