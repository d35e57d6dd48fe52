"""The local receiver's page: alerts as on-call would see them, refreshed live."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>incidentio-logging: local receiver</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1c1c1c; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; }
  p.note { color: #666; margin-top: 0; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #e4e4e4;
           vertical-align: top; }
  th { font-weight: 600; color: #555; }
  tr.alert { cursor: pointer; }
  tr.alert:hover { background: #f7f7f7; }
  .state { font-weight: 600; border-radius: 1rem; padding: .1rem .55rem; font-size: .8rem; }
  .firing { background: #fde2df; color: #a4281b; }
  .resolved { background: #dff3e4; color: #1d6b35; }
  tr.details td { background: #fafafa; }
  pre { white-space: pre-wrap; word-break: break-word; margin: .3rem 0 .8rem;
        font-size: 12px; }
  .empty { color: #888; padding: 1rem .6rem; }
</style>
</head>
<body>
<h1>Alerts received</h1>
<p class="note">One row per deduplication key, as incident.io groups them. Nothing here
left this machine. Click a row for its metadata and records.</p>
<table>
  <thead><tr><th>State</th><th>Title</th><th>Events</th><th>Records</th>
  <th>Last event</th></tr></thead>
  <tbody id="alerts"><tr><td class="empty" colspan="5">No alerts yet.</td></tr></tbody>
</table>
<script>
const open = new Set();
const shown = new Map();

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    td.appendChild(span);
  } else {
    td.textContent = text;
  }
  return td;
}

function section(label, value) {
  const wrap = document.createElement("div");
  const title = document.createElement("strong");
  title.textContent = label;
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(value, null, 2);
  wrap.append(title, pre);
  return wrap;
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
    const row = document.createElement("tr");
    row.className = "alert";
    row.dataset.key = alert.key;
    row.append(cell(alert.status, "state " + alert.status), cell(alert.title),
               cell(String(alert.events)), cell(String(alert.records)),
               cell(new Date(alert.last_received * 1000).toLocaleTimeString()));
    row.addEventListener("click", () => {
      open.has(alert.key) ? open.delete(alert.key) : open.add(alert.key);
      render(alerts);
    });
    body.appendChild(row);
    if (open.has(alert.key)) {
      const details = document.createElement("tr");
      details.className = "details";
      const td = document.createElement("td");
      td.colSpan = 5;
      td.append(section("Deduplication key", alert.key),
                section("Metadata", alert.metadata),
                section("Records (latest event)", alert.latest_records));
      details.appendChild(td);
      body.appendChild(details);
    }
  }
}

async function refresh() {
  try {
    const response = await fetch("/api/alerts", {cache: "no-store"});
    const alerts = await response.json();
    const fingerprint = JSON.stringify(alerts);
    if (shown.get("all") !== fingerprint) {
      shown.set("all", fingerprint);
      render(alerts);
    }
  } catch (error) {
    // The receiver is restarting: try again on the next tick.
  }
}

refresh();
setInterval(refresh, 500);
</script>
</body>
</html>
"""
