"""The local receiver's page: alerts as on-call would see them, refreshed live.

Everything in an event is untrusted: log messages, metadata, and a description that quotes
them. The page's script only ever puts it into text nodes (``textContent``) and builds its
markdown by hand from a few safe elements, so nothing a log line says can become HTML or
script. Odd values (``metadata.data = 5``, records that are not objects) are shown as
they came.
"""

from __future__ import annotations

import base64
import hashlib


def _page() -> str:
    # The policy allows this page's own style and script, by hash, and fetches from this
    # receiver only: even markup that slipped through could neither run nor load anything.
    policy = (f"default-src 'none'; connect-src 'self'; style-src {_digest(_STYLE)}; "
              f"script-src {_digest(_SCRIPT)}; base-uri 'none'; form-action 'none'")
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
            f"<title>incidentio-logging: local receiver</title>\n"
            f"<style>{_STYLE}</style>\n</head>\n{_BODY}<script>{_SCRIPT}</script>\n"
            f"</body>\n</html>\n")


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_STYLE = """
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1c1c1c; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; }
  p.note { color: #666; margin-top: 0; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #e4e4e4;
           vertical-align: top; }
  th { font-weight: 600; color: #555; }
  td.when { white-space: nowrap; }
  tr.alert { cursor: pointer; }
  tr.alert:hover { background: #f7f7f7; }
  .state { font-weight: 600; border-radius: 1rem; padding: .1rem .55rem; font-size: .8rem; }
  .firing { background: #fde2df; color: #a4281b; }
  .resolved { background: #dff3e4; color: #1d6b35; }
  tr.details > td { background: #fafafa; }
  h2 { font-size: .95rem; margin: .9rem 0 .3rem; }
  pre { white-space: pre-wrap; word-break: break-word; margin: .3rem 0 .8rem;
        font-size: 12px; }
  code { font-size: 12px; background: #efefef; border-radius: 3px; padding: 0 .2rem; }
  pre code { background: none; padding: 0; }
  .description { background: #fff; border: 1px solid #e4e4e4; border-radius: 6px;
                 padding: .2rem .9rem; max-width: 60rem; }
  .description pre { background: #f3f3f3; padding: .5rem; border-radius: 4px; }
  .record { border-left: 3px solid #ddd; padding-left: .6rem; margin-bottom: .8rem; }
  .headline { font-weight: 600; white-space: pre-wrap; }
  table.fields td { border: 0; padding: .1rem .6rem .1rem 0; }
  table.fields td:first-child { color: #555; width: 9rem; }
  table.facts { width: auto; }
  table.facts td { border: 0; padding: .1rem .8rem .1rem 0; }
  .empty { color: #888; padding: 1rem .6rem; }
"""

_BODY = """<body>
<h1>Alerts received</h1>
<p class="note">One row per deduplication key, as incident.io groups them. Nothing here
left this machine. Click a row for its description, records and metadata. Times are UTC.</p>
<table>
  <thead><tr><th>State</th><th>Title</th><th>Events</th><th>Records</th>
  <th>Last event</th></tr></thead>
  <tbody id="alerts"><tr><td class="empty" colspan="5">No alerts yet.</td></tr></tbody>
</table>
"""

_SCRIPT = r"""
"use strict";
// Everything from an event is untrusted: it only ever reaches the page as text nodes.
const open = new Set();
let shown = "";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function cell(text, cls) {
  const td = el("td");
  if (cls) td.appendChild(el("span", cls, text)); else td.textContent = text;
  return td;
}

function when(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

function asText(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// Markdown, the part alert descriptions use: paragraphs, headings, bullet lists, fenced
// code, **bold**, `code` and [links](https://...). Anything else shows as written.
const FENCE = /^\s*(`{3,}|~{3,})/, BULLET = /^\s*[-*+]\s+/, HEADING = /^(#{1,6})\s+/;

function markdown(source) {
  const root = el("div", "description");
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) {
        body.push(lines[i]);
      }
      i++;
      const pre = el("pre");
      pre.appendChild(el("code", "", body.join("\n")));
      root.appendChild(pre);
    } else if (BULLET.test(line)) {
      const list = el("ul");
      for (; i < lines.length && BULLET.test(lines[i]); i++) {
        const item = el("li");
        inline(lines[i].replace(BULLET, ""), item);
        list.appendChild(item);
      }
      root.appendChild(list);
    } else if (HEADING.test(line)) {
      const heading = el("h" + Math.min(6, HEADING.exec(line)[1].length + 2));
      inline(line.replace(HEADING, ""), heading);
      root.appendChild(heading);
      i++;
    } else if (!line.trim()) {
      i++;
    } else {
      const paragraph = el("p");
      for (let first = true; i < lines.length && lines[i].trim() && !FENCE.test(lines[i])
           && !BULLET.test(lines[i]) && !HEADING.test(lines[i]); i++, first = false) {
        if (!first) paragraph.appendChild(el("br"));
        inline(lines[i], paragraph);
      }
      root.appendChild(paragraph);
    }
  }
  return root;
}

const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^()\s]+)\)/g;

function inline(text, parent) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    parent.append(text.slice(last, match.index));
    const [whole, code, bold, label, href] = match;
    if (code !== undefined) {
      parent.appendChild(el("code", "", code));
    } else if (bold !== undefined) {
      const strong = el("strong");
      inline(bold, strong);
      parent.appendChild(strong);
    } else {
      link(whole, label, href, parent);
    }
    last = match.index + whole.length;
  }
  parent.append(text.slice(last));
}

function link(whole, label, href, parent) {
  let url = null;
  try { url = new URL(href); } catch (error) { /* not an absolute URL */ }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    parent.append(whole);  // javascript:, data: and the like stay text, as written
    return;
  }
  const anchor = el("a");
  anchor.href = url.href;
  anchor.rel = "noopener noreferrer";
  anchor.target = "_blank";
  inline(label, anchor);
  parent.appendChild(anchor);
}

// A record as the handler sends it: a headline, its fields, and tracebacks as text.
const HEADLINE = ["timestamp", "level", "logger", "message"];

function record(value) {
  const box = el("div", "record");
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    box.appendChild(el("pre", "", asText(value)));  // not a record: as it came
    return box;
  }
  const [time, level, logger, message] = HEADLINE.map((name) =>
    name in value ? asText(value[name]) : "");
  const words = [time, level, logger && message ? logger + ":" : logger, message];
  box.appendChild(el("div", "headline", words.filter(Boolean).join(" ")));
  const fields = el("table", "fields");
  for (const [name, field] of Object.entries(value)) {
    if (HEADLINE.includes(name)) continue;
    const row = fields.insertRow();
    row.insertCell().textContent = name;
    const text = asText(field);
    if (text.includes("\n")) row.insertCell().appendChild(el("pre", "", text));
    else row.insertCell().textContent = text;
  }
  box.appendChild(fields);
  return box;
}

function details(alert) {
  const td = el("td");
  td.colSpan = 5;
  td.appendChild(el("h2", "", "Description"));
  td.appendChild(alert.description ? markdown(alert.description)
                                   : el("p", "empty", "No description."));
  td.appendChild(el("h2", "", "Records (latest event)"));
  if (!alert.latest_records.length) td.appendChild(el("p", "empty", "No records."));
  for (const value of alert.latest_records) td.appendChild(record(value));
  td.appendChild(el("h2", "", "Metadata"));
  td.appendChild(el("pre", "metadata", JSON.stringify(alert.metadata, null, 2)));
  const facts = el("table", "facts");
  for (const [name, value] of [["Deduplication key", alert.key],
                               ["First event", when(alert.first_received)],
                               ["Last event", when(alert.last_received)]]) {
    const row = facts.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = value;
  }
  td.appendChild(facts);
  const row = el("tr", "details");
  row.appendChild(td);
  return row;
}

function render(alerts) {
  const body = document.getElementById("alerts");
  body.replaceChildren();
  if (!alerts.length) {
    const row = body.insertRow();
    row.appendChild(cell("No alerts yet.")).className = "empty";
    row.firstChild.colSpan = 5;
    return;
  }
  for (const alert of alerts) {
    const row = el("tr", "alert");
    row.dataset.key = alert.key;
    row.append(cell(alert.status, "state " + alert.status), cell(alert.title),
               cell(String(alert.events)), cell(String(alert.records)),
               cell(when(alert.last_received)));
    row.lastChild.className = "when";
    row.addEventListener("click", () => {
      open.has(alert.key) ? open.delete(alert.key) : open.add(alert.key);
      render(alerts);
    });
    body.appendChild(row);
    if (open.has(alert.key)) body.appendChild(details(alert));
  }
}

async function refresh() {
  try {
    const response = await fetch("/api/alerts", {cache: "no-store"});
    const text = await response.text();
    if (response.ok && text !== shown) {
      render(JSON.parse(text));
      shown = text;
    }
  } catch (error) {
    // The receiver is restarting: try again on the next tick.
  }
}

refresh();
setInterval(refresh, 500);
"""

PAGE = _page()
