(function () {
  "use strict";
  // Every value from a trace goes in as text (textContent, setAttribute): never as markup.
  var SVG = document.getElementById("logo").namespaceURI;
  var STATUS = { success: "s-ok", failed: "s-failed", error: "s-error" };
  var LANE = 26, LABEL = 170, AXIS = 26, PAD = 12;
  var data = JSON.parse(document.getElementById("data").textContent);
  var bySeq = {};
  var byWhere = {}; // "file:line" -> bar, so that report rows (slowest) open their trace
  var selected = null;
  var newestSeen = 0; // rows newer than this are highlighted when a live update brings them

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function sv(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (key) {
      if (attrs[key] !== undefined && attrs[key] !== null) node.setAttribute(key, String(attrs[key]));
    });
  }
  function box(id) {
    var node = document.getElementById(id);
    node.replaceChildren();
    return node;
  }
  function statusClass(status) { return STATUS[status] || "s-pending"; }
  function num(value, digits) {
    return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function ms(value) {
    if (value === null || value === undefined) return "–";
    if (value < 1) return num(value, 3);
    if (value < 100) return num(value, 2);
    return num(value, 1);
  }
  function count(value) { return (value || 0).toLocaleString("en-US"); }
  function span(value) {
    if (value < 1000) return ms(value) + " ms";
    if (value < 120000) return num(value / 1000, 2) + " s";
    return num(value / 60000, 1) + " min";
  }
  function tick(value, total) {
    // One unit for the whole axis, chosen by its length.
    if (total < 1000) return ms(value) + " ms";
    if (total < 120000) return num(value / 1000, total < 10000 ? 2 : 1) + " s";
    return num(value / 60000, 1) + " min";
  }
  function pad(n, w) { var s = String(n); while (s.length < w) s = "0" + s; return s; }
  function clock(epochMs) {
    if (epochMs === null || epochMs === undefined) return "–";
    var d = new Date(epochMs);
    return pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" + pad(d.getSeconds(), 2) +
      "." + pad(d.getMilliseconds(), 3);
  }
  function stamp(epochMs) {
    if (epochMs === null || epochMs === undefined) return "–";
    var d = new Date(epochMs);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1, 2) + "-" + pad(d.getDate(), 2) + " " + clock(epochMs);
  }
  function short(text, limit) {
    text = String(text);
    return text.length > limit ? text.slice(0, limit - 1) + "…" : text;
  }
  function pill(status) { return el("span", { "class": "pill " + statusClass(status) }, status); }
  function table(head, rows, numeric) {
    var t = el("table");
    var tr = el("tr");
    head.forEach(function (h, i) { tr.appendChild(el("th", numeric && numeric[i] ? { "class": "num" } : null, h)); });
    t.appendChild(el("thead")).appendChild(tr);
    var body = t.appendChild(el("tbody"));
    rows.forEach(function (row) { body.appendChild(row); });
    return t;
  }
  function cell(row, text, attrs) { return row.appendChild(el("td", attrs, text)); }
  function note(parent, text) { return parent.appendChild(el("p", { "class": "empty-note" }, text)); }

  // -- summary --------------------------------------------------------------------------------
  function renderSummary() {
    var report = data.report, page = data.page, sums = { success: 0, failed: 0, error: 0 };
    Object.keys(report.actions).forEach(function (name) {
      var a = report.actions[name];
      sums.success += a.success; sums.failed += a.failed; sums.error += a.error;
    });
    var node = box("summary");
    function card(label, value, shown, cls, id) {
      var c = node.appendChild(el("div", { "class": "card " + (cls || "") }));
      c.appendChild(el("div", { "class": "label" }, label));
      c.appendChild(el("div", { "class": "value", id: id, "data-value": value }, shown));
    }
    // A sampled run's figures estimate the whole run: the page says so, as the text report does.
    card(report.estimated ? "Execution traces (estimated)" : "Execution traces", report.total,
      count(report.total), "", "total");
    card("Success", sums.success, count(sums.success), "ok", "total-success");
    card("Failed", sums.failed, count(sums.failed), "failed", "total-failed");
    card("Error", sums.error, count(sums.error), "error", "total-error");
    card("Actions", Object.keys(report.actions).length, count(Object.keys(report.actions).length));
    card("Actors", page.actors.length, count(page.actors.length), "", "total-actors");
    card("Session", page.span.end, page.timeline.timed ? span(page.span.end) : "–");
    card("Files", report.files !== undefined ? report.files : page.files,
      count(report.files !== undefined ? report.files : page.files));
    var damaged = report.damagedLines || 0, skipped = report.skippedFiles || 0;
    card("Skipped", damaged + skipped, count(damaged) + " lines · " + count(skipped) + " files",
      damaged + skipped ? "failed" : "", "skipped");
    document.getElementById("source").textContent = data.source + (data.live ? "" :
      " · generated " + stamp(Date.parse(data.generatedAt)));
  }

  // -- actions table --------------------------------------------------------------------------
  function outcome(a) {
    var s = sv("svg", { "class": "outcome", width: 90, height: 10, viewBox: "0 0 90 10", role: "img" });
    var x = 0, total = a.count || 1;
    [["success", "s-ok"], ["failed", "s-failed"], ["error", "s-error"]].forEach(function (pair) {
      var w = 90 * a[pair[0]] / total;
      if (w > 0) s.appendChild(sv("rect", { "class": "bar " + pair[1], x: x, y: 0, width: w, height: 10 }));
      x += w;
    });
    s.appendChild(sv("title", null, a.success + " success, " + a.failed + " failed, " + a.error + " error"));
    return s;
  }
  function renderActions() {
    var actions = data.report.actions, keys = ["count", "success", "failed", "error", "p50", "p95", "p99", "max"];
    var rows = Object.keys(actions).map(function (name) {
      var a = actions[name], tr = el("tr", { "data-action": name });
      cell(tr, name, { "class": "text" });
      cell(tr, null).appendChild(outcome(a));
      keys.forEach(function (key, i) {
        var v = a[key];
        cell(tr, i < 4 ? count(v) : ms(v), { "class": "num", "data-key": key, "data-value": v === null ? "" : v });
      });
      return tr;
    });
    var node = box("actions");
    if (!rows.length) { note(node, "No execution traces."); return; }
    node.appendChild(table(["Action", "Outcome", "Count", "Success", "Failed", "Error",
      "p50 ms", "p95 ms", "p99 ms", "Max ms"], rows, [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]));
  }

  // -- histograms -----------------------------------------------------------------------------
  function renderHistograms() {
    var node = box("histograms"), hists = data.page.histograms, actions = data.report.actions;
    var names = Object.keys(hists);
    if (!names.length) { note(node, "No completed traces to draw."); return; }
    names.forEach(function (name) {
      var h = hists[name], a = actions[name] || {}, per = h.perDoubling, n = h.counts.length;
      var card = node.appendChild(el("div", { "class": "hist", "data-action": name }));
      card.appendChild(el("h3", null, name));
      card.appendChild(el("p", null, count(a.count) + " traces · p50 " + ms(a.p50) + " ms · p95 " + ms(a.p95) + " ms"));
      var W = 300, H = 110, left = 6, right = 6, top = 12, bottom = 20, pw = W - left - right, ph = H - top - bottom;
      var s = card.appendChild(sv("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" }));
      s.appendChild(sv("title", null, "Latency histogram of " + name));
      var peak = Math.max.apply(null, h.counts), bw = pw / n;
      h.counts.forEach(function (c, i) {
        if (!c) return;
        var bh = Math.max(1, ph * c / peak), lo = Math.pow(2, (h.low + i) / per), hi = Math.pow(2, (h.low + i + 1) / per);
        var r = s.appendChild(sv("rect", { "class": "bin", x: left + i * bw + 0.5, y: top + ph - bh, width: Math.max(1, bw - 1), height: bh }));
        r.appendChild(sv("title", null, ms(lo) + "–" + ms(hi) + " ms: " + count(c) + " traces"));
      });
      s.appendChild(sv("line", { "class": "axisline", x1: left, x2: W - right, y1: top + ph + 0.5, y2: top + ph + 0.5 }));
      s.appendChild(sv("text", { "class": "axis", x: left, y: H - 6 }, ms(Math.pow(2, h.low / per)) + " ms"));
      s.appendChild(sv("text", { "class": "axis", x: W - right, y: H - 6, "text-anchor": "end" }, ms(Math.pow(2, (h.low + n) / per)) + " ms"));
      [["p50", a.p50], ["p95", a.p95]].forEach(function (pair) {
        if (pair[1] === null || pair[1] === undefined || pair[1] <= 0) return;
        var x = left + pw * (Math.log2(pair[1]) * per - h.low) / n;
        x = Math.max(left, Math.min(W - right, x));
        s.appendChild(sv("line", { "class": "mark " + pair[0], x1: x, x2: x, y1: top - 2, y2: top + ph }));
        // p50's label goes left of its line, p95's right, so close lines keep readable labels.
        var before = pair[0] === "p50" ? x > left + 26 : x > W - 30;
        s.appendChild(sv("text", { "class": "marklabel " + pair[0], x: before ? x - 2 : x + 2, y: 9,
          "text-anchor": before ? "end" : "start" }, pair[0]));
      });
    });
  }

  // -- timeline -------------------------------------------------------------------------------
  function niceStep(total, ticks) {
    var raw = total / ticks, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
  }
  function renderTimeline() {
    var page = data.page, info = page.timeline, node = box("timeline");
    var noteText;
    if (info.sampled) {
      noteText = "Showing " + count(info.shown) + " of " + count(info.timed) + " traces: every failure and error (up to " +
        count(info.limits.problems) + "), the " + count(info.limits.slowest) + " slowest and a uniform sample of the rest. " +
        "The tables above count them all.";
    } else {
      noteText = "All " + count(info.shown) + " traces, one lane per actor; click a bar to see the trace.";
    }
    if (info.timed < info.total) noteText += " " + count(info.total - info.timed) + " without a start time are not drawn.";
    document.getElementById("timeline-note").textContent = noteText;
    bySeq = {};
    byWhere = {};
    function know(b) {
      if (!bySeq[b.seq]) bySeq[b.seq] = b;
      if (b.file) byWhere[b.file + ":" + (b.line || "")] = b;
    }
    page.bars.forEach(know);
    page.latest.forEach(know);
    Object.keys(page.examples || {}).forEach(function (kind) { know(page.examples[kind]); });
    if (!page.actors.length) { note(node, "No traces yet."); return; }
    var zoom = Number(document.getElementById("zoom").value) || 1;
    var width = Math.max(640, (node.clientWidth || 1000) - 2) * zoom;
    var plot = width - LABEL - PAD, total = Math.max(page.span.end, 0.001);
    var lanes = {}, height = page.actors.length * LANE + AXIS;
    var s = sv("svg", { "class": "tl", width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" });
    s.appendChild(sv("title", null, "Timeline: one lane per actor"));
    page.actors.forEach(function (actor, i) {
      lanes[actor.id] = i;
      var g = s.appendChild(sv("g", { "class": "lane", "data-actor": actor.id }));
      g.appendChild(sv("rect", { "class": "lane-bg" + (i % 2 ? " odd" : ""), x: 0, y: i * LANE, width: width, height: LANE }));
      var label = g.appendChild(sv("text", { "class": "lane-label", x: 8, y: i * LANE + 17 }, short(actor.id, 18)));
      label.appendChild(sv("title", null, actor.id));
      g.appendChild(sv("text", { "class": "lane-count", x: LABEL - 8, y: i * LANE + 17, "text-anchor": "end" }, count(actor.count)));
    });
    var step = niceStep(total, Math.max(2, Math.round(plot / 130))), axisY = page.actors.length * LANE;
    for (var t = 0; t <= total + 1e-9; t += step) {
      var x = LABEL + plot * t / total;
      s.appendChild(sv("line", { "class": "grid", x1: x, x2: x, y1: 0, y2: axisY + 4 }));
      s.appendChild(sv("text", { "class": "axis", x: x, y: axisY + 17, "text-anchor": "middle" }, "+" + tick(t, total)));
    }
    var order = { "s-ok": 0, "s-pending": 1, "s-failed": 2, "s-error": 3 };
    var bars = page.bars.filter(function (b) { return b.start !== null && lanes[b.actor] !== undefined; });
    bars.sort(function (a, b) { return order[statusClass(a.status)] - order[statusClass(b.status)]; });
    var layer = s.appendChild(sv("g", { "class": "bars" }));
    bars.forEach(function (b) {
      var x = LABEL + plot * b.start / total, w = Math.max(2, plot * (b.duration || 0) / total), y = lanes[b.actor] * LANE + 4;
      var cls = statusClass(b.status);
      var r = layer.appendChild(sv("rect", { "class": "bar " + cls + (b.seq === selected ? " selected" : ""), x: x, y: y,
        width: w, height: LANE - 8, rx: 1.5, "data-seq": b.seq, "data-trace-id": b.traceId, "data-status": b.status }));
      r.appendChild(sv("title", null, summary(b)));
      if (cls === "s-error") layer.appendChild(sv("path", { "class": "errmark", d: "M" + (x + w / 2 - 4) + " " + (y - 4) + "h8l-4 5z" }));
    });
    s.addEventListener("click", function (event) {
      var target = event.target.closest("[data-seq]");
      if (target) show(Number(target.getAttribute("data-seq")));
    });
    node.appendChild(s);
  }
  function summary(b) {
    return "Action: " + b.action + " | Actor: " + b.actor + " | Status: " + b.status + " | Duration: " +
      (b.duration === null ? "incomplete" : b.duration.toFixed(2) + "ms");
  }

  // -- details --------------------------------------------------------------------------------
  function show(seq) {
    selected = seq;
    var previous = document.querySelectorAll(".bar.selected");
    for (var i = 0; i < previous.length; i++) previous[i].classList.remove("selected");
    var mark = document.querySelector('.bar[data-seq="' + Number(seq) + '"]');
    if (mark) mark.classList.add("selected");
    renderDetails();
  }
  function renderDetails() {
    var node = box("details"), b = selected === null ? null : bySeq[selected];
    if (!b) {
      node.className = "details empty";
      node.textContent = "Click a bar on the timeline, or a row in the tables below, to see that trace here.";
      return;
    }
    node.className = "details";
    var dl = node.appendChild(el("dl"));
    function row(label, value, field, pre) {
      if (value === null || value === undefined || value === "") return;
      dl.appendChild(el("dt", null, label));
      var dd = dl.appendChild(el("dd", { "data-field": field }));
      if (pre) dd.appendChild(el("pre", null, value)); else dd.textContent = String(value);
    }
    row("Trace id", b.traceId || "(none)", "traceId");
    row("Status", b.status, "status");
    row("Summary", summary(b), "summary");
    row("Started", stamp(b.epochMs), "started");
    row("Command", b.command, "command");
    row("Span", b.spanId ? b.spanId + (b.parentSpanId ? " (parent " + b.parentSpanId + ")" : " (root)") : null, "span");
    row("File", b.file ? b.file + (b.line ? ":" + b.line : "") : null, "file");
    (b.errors || []).forEach(function (link, i) {
      var text = link.type + ": " + link.message + (link.stack ? "\n\n" + link.stack : "");
      row(i === 0 ? "Error" : "Caused by", text, i === 0 ? "error" : "cause-" + i, true);
    });
    if (!b.errors) row("Error", b.error, "error", true);
    row("Payload", b.payload, "payload", true);
  }
  function pickable(tr, b) {
    tr.className = "pick";
    tr.setAttribute("data-seq", b.seq);
    tr.addEventListener("click", function () {
      show(b.seq);
      document.getElementById("details").scrollIntoView({ block: "nearest" });
    });
    return tr;
  }

  // -- errors, slowest, latest ----------------------------------------------------------------
  function renderErrors() {
    var node = box("errors"), types = data.report.errorTypes, names = Object.keys(types);
    if (!names.length) note(node, "No errors.");
    else {
      node.appendChild(table(["Error type", "Count", "Example message"], names.map(function (name) {
        var tr = el("tr", { "data-error-type": name });
        var example = (data.page.examples || {})[name];
        if (example) pickable(tr, example);
        cell(tr, name, { "class": "text" });
        cell(tr, count(types[name].count), { "class": "num", "data-value": types[name].count });
        cell(tr, types[name].example, { "class": "text" });
        return tr;
      }), [0, 1, 0]));
    }
    var problems = data.page.bars.filter(function (b) { return b.status === "error" || b.status === "failed"; });
    // Errors (something broke) before failures (an ordinary game outcome), latest first in each.
    problems.sort(function (a, b) {
      return (a.status === "error" ? 0 : 1) - (b.status === "error" ? 0 : 1) || (b.start || 0) - (a.start || 0);
    });
    if (!problems.length) return;
    node.appendChild(el("h3", { "class": "sub" }, "Error and failed traces (errors first, latest " + Math.min(20, problems.length) + ")"));
    var wrap = node.appendChild(el("div", { "class": "scroll" }));
    wrap.appendChild(table(["Time", "Status", "Action", "Actor", "Error"], problems.slice(0, 20).map(function (b) {
      var tr = pickable(el("tr"), b);
      cell(tr, clock(b.epochMs), { "class": "num" });
      cell(tr, null).appendChild(pill(b.status));
      cell(tr, b.action, { "class": "text" });
      cell(tr, b.actor, { "class": "text" });
      cell(tr, b.error || "", { "class": "text" });
      return tr;
    })));
  }
  function renderSlowest() {
    var node = box("slowest"), slowest = data.report.slowest || [];
    if (!slowest.length) { note(node, "No completed traces."); return; }
    node.appendChild(table(["#", "Duration ms", "Action", "Actor", "Status", "Trace id", "File"], slowest.map(function (s, i) {
      var tr = el("tr", { "data-duration": s.duration });
      var b = byWhere[(s.file || "") + ":" + (s.line || "")];
      if (b) pickable(tr, b);
      cell(tr, i + 1, { "class": "num" });
      cell(tr, ms(s.duration), { "class": "num" });
      cell(tr, s.actionId, { "class": "text" });
      cell(tr, s.actorId, { "class": "text" });
      cell(tr, null).appendChild(pill(s.status || "?"));
      cell(tr, s.traceId || "–", { "class": "id" });
      cell(tr, s.file ? s.file + (s.line ? ":" + s.line : "") : "–", { "class": "id" });
      return tr;
    }), [1, 1, 0, 0, 0, 0, 0]));
  }
  function renderLatest() {
    var node = box("latest"), latest = data.live ? data.page.latest.slice(0, 10) : data.page.latest;
    if (!latest.length) { note(node, "No traces yet."); return; }
    var fresh = newestSeen;
    newestSeen = Math.max(newestSeen, latest[0].seq);
    node.appendChild(table(["Time", "Status", "Action", "Actor", "Duration ms", "Trace id"], latest.map(function (b) {
      var tr = pickable(el("tr", { "data-action": b.action }), b);
      if (fresh && b.seq > fresh) tr.className += " fresh";
      cell(tr, clock(b.epochMs), { "class": "num" });
      cell(tr, null).appendChild(pill(b.status));
      cell(tr, b.action, { "class": "text" });
      cell(tr, b.actor, { "class": "text" });
      cell(tr, ms(b.duration), { "class": "num" });
      cell(tr, b.traceId || "–", { "class": "id" });
      return tr;
    }), [1, 0, 0, 0, 1, 0]));
  }

  // -- linked traces --------------------------------------------------------------------------
  function renderTrees() {
    var node = box("trees"), info = data.page.trees;
    if (!info.trees.length) { note(node, "No linked traces."); return; }
    node.appendChild(el("p", { "class": "muted" }, count(info.children) + " traces ran inside another traced action" +
      (info.more ? "; the first " + info.trees.length + " trees are shown (" + count(info.more) + " more linked traces not drawn)." : ".")));
    info.trees.forEach(function (tree) {
      var spans = {}, kids = {}, roots = [];
      tree.nodes.forEach(function (n) { if (n.spanId) spans[n.spanId] = n; });
      tree.nodes.forEach(function (n) {
        if (n.parentSpanId && spans[n.parentSpanId] && n.parentSpanId !== n.spanId) (kids[n.parentSpanId] = kids[n.parentSpanId] || []).push(n);
        else roots.push(n);
      });
      var d = node.appendChild(el("details", { "class": "tree", "data-trace-id": tree.traceId, open: "" }));
      d.appendChild(el("summary", null, "trace " + tree.traceId + " · " + tree.nodes.length + " traces"));
      var seen = {};
      function branch(list, parent, depth) {
        var ul = parent.appendChild(el("ul"));
        list.sort(function (a, b) { return a.seq - b.seq; });
        list.forEach(function (n) {
          if (seen[n.seq] || depth > 64) return;
          seen[n.seq] = true;
          var li = ul.appendChild(el("li", { "data-span-id": n.spanId }));
          li.appendChild(el("span", { "class": "dot " + statusClass(n.status) }));
          li.appendChild(el("span", null, n.action + " · " + n.actor + " · " + n.status + " · " + ms(n.duration) + " ms" +
            (n.parentSpanId && !spans[n.parentSpanId] ? " (parent " + n.parentSpanId + " not in these files)" : "")));
          if (n.spanId && kids[n.spanId]) branch(kids[n.spanId], li, depth + 1);
        });
      }
      branch(roots, d, 0);
    });
  }

  function renderFooter() {
    var r = data.report, text = "actiontrace · " + count(r.total) + " execution traces";
    if (r.damagedLines) text += " · " + count(r.damagedLines) + " damaged lines skipped";
    if (r.skippedFiles) text += " · " + count(r.skippedFiles) + " files not read";
    text += " · times shown in this computer's local time.";
    document.getElementById("footer").textContent = text;
  }

  function renderAll() {
    renderSummary(); renderActions(); renderHistograms(); renderTimeline(); renderDetails();
    renderErrors(); renderSlowest(); renderTrees(); renderLatest(); renderFooter();
    document.body.setAttribute("data-rendered", String((Number(document.body.getAttribute("data-rendered")) || 0) + 1));
  }

  document.getElementById("zoom").addEventListener("change", renderTimeline);
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(renderTimeline, 150);
  });
  if (data.live) {
    // Watching live, the newest traces matter most: put them right under the summary.
    var latest = document.getElementById("latest-section");
    latest.parentNode.insertBefore(latest, document.getElementById("timeline-section"));
  }
  renderAll();

  if (data.live && window.EventSource) {
    var badge = document.getElementById("live"), label = document.getElementById("live-text");
    badge.hidden = false;
    var source = new EventSource("events?since=" + encodeURIComponent(String(data.version || 0)));
    source.addEventListener("open", function () { badge.className = "live"; label.textContent = "live"; });
    source.addEventListener("error", function () { badge.className = "live down"; label.textContent = "reconnecting…"; });
    source.addEventListener("snapshot", function (event) {
      data = JSON.parse(event.data);
      renderAll();
    });
  }
})();
