/**
 * The status page served at `/`: one self-contained HTML document (inline CSS and script, no
 * external assets, no framework) that fetches `status?limit=1000` every 5 seconds and shows the
 * cluster, the leader with its lease headroom, the candidates with their clock offsets, held locks, the storage
 * estimate against its budget, and the jobs sorted by attention (failing, missed or skipped,
 * running, then by next slot; the order of `NEEDS_ATTENTION` in observe/status-summary.ts) with
 * each job's last outcome, token and missed and skipped totals, and a timeline of its newest runs
 * (a mark per run coloured by outcome; outcome, token and duration in its title). It shows only
 * what `/status` carries, which never includes env values or credentials, and leaves out the
 * runs' output tails. Every value enters the page as text (`textContent`), never as markup. With
 * more than 1000 jobs it shows the first 1000 in config order and says so. When a fetch fails it
 * keeps the last data and says when it was taken.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lockd status</title>
<link rel="icon" href="data:,">
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #bf8700; --run: #0969da; --muted: #59636e; --line: #d1d9e0; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.4 system-ui, sans-serif; color: #1f2328; background: #f6f8fa; }
  header, main { max-width: 60rem; margin: 0 auto; padding: 0.75rem 1rem; }
  header h1 { margin: 0; font-size: 1.3rem; }
  header p, .muted { margin: 0.2rem 0 0; color: var(--muted); font-size: 0.85rem; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem 1rem; margin-bottom: 0.75rem; }
  h2 { margin: 0 0 0.5rem; font-size: 1rem; }
  .error { color: var(--bad); font-weight: 600; }
  .none { color: var(--bad); font-weight: 600; }
  .kv { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; }
  .kv span b { font-weight: 600; }
  .bar { height: 0.5rem; background: var(--line); border-radius: 4px; overflow: hidden; margin-top: 0.4rem; max-width: 20rem; }
  .bar i { display: block; height: 100%; background: var(--ok); }
  .bar.low i { background: var(--bad); }
  .counts { display: flex; flex-wrap: wrap; gap: 0.5rem; }
  .counts span { padding: 0.2rem 0.6rem; border-radius: 1rem; background: #eef1f4; font-size: 0.85rem; }
  ul { list-style: none; margin: 0; padding: 0; }
  li.job { display: grid; grid-template-columns: 1fr auto; gap: 0.1rem 1rem; padding: 0.5rem 0; border-top: 1px solid var(--line); }
  li.job:first-child { border-top: 0; }
  .name { font-weight: 600; overflow-wrap: anywhere; }
  .outcome { justify-self: end; padding: 0.05rem 0.55rem; border-radius: 1rem; color: #fff; font-size: 0.8rem; background: var(--muted); }
  .o-success { background: var(--ok); } .o-failed, .o-timeout, .o-killed, .o-unknown { background: var(--bad); }
  .o-missed, .o-skipped { background: var(--warn); } .o-running { background: var(--run); }
  .detail { grid-column: 1 / -1; color: var(--muted); font-size: 0.85rem; overflow-wrap: anywhere; }
  code { font: 0.85em ui-monospace, monospace; }
  .timeline { grid-column: 1 / -1; display: flex; gap: 3px; }
  .timeline i { width: 0.9rem; height: 0.9rem; border-radius: 2px; background: var(--muted); }
</style>
</head>
<body>
<header>
  <h1>lockd <span id="cluster"></span></h1>
  <p id="updated">loading…</p>
</header>
<main>
  <section><h2>Leader</h2><div id="leader"></div></section>
  <section><h2>Candidates</h2><ul id="candidates"></ul><p class="muted" id="storage"></p></section>
  <section><h2>Held locks and seats</h2><ul id="locks"></ul></section>
  <section><h2>Jobs</h2><div class="counts" id="counts"></div><p class="muted" id="paging"></p><ul id="jobs"></ul></section>
</main>
<script>
"use strict";
const REFRESH_MS = 5000;
const TIMELINE_RUNS = 10;
const RANK = { failing: 0, missed: 1, running: 2, ok: 3, neverRun: 3 };
const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function health(last) {
  if (!last) return "neverRun";
  if (last.outcome === "success") return "ok";
  if (last.outcome === "running") return "running";
  if (last.outcome === "missed" || last.outcome === "skipped") return "missed";
  return "failing";
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "none";
}

function seconds(ms) {
  return ms === undefined ? "" : (ms / 1000).toFixed(ms < 10000 ? 2 : 0) + " s";
}

function field(parent, label, value) {
  const span = el("span");
  span.append(el("b", "", label + " "), el("code", "", value));
  parent.append(span);
}

function renderLeader(leader) {
  const box = $("leader");
  box.replaceChildren();
  if (!leader) {
    box.append(el("p", "none", "no leader: no job runs until a replica is elected"));
    return;
  }
  const kv = el("div", "kv");
  field(kv, "node", leader.node);
  field(kv, "host", leader.host + " pid " + leader.pid);
  field(kv, "token", leader.token);
  field(kv, "since", when(leader.since));
  field(kv, "lease TTL", seconds(leader.ttlMs));
  box.append(kv);
  if (leader.leaseRemainingMs !== undefined) {
    const share = Math.max(0, Math.min(1, leader.leaseRemainingMs / leader.ttlMs));
    const bar = el("div", share < 0.2 ? "bar low" : "bar");
    const fill = el("i");
    fill.style.width = (share * 100).toFixed(0) + "%";
    bar.append(fill);
    box.append(el("p", "muted", "lease headroom " + seconds(leader.leaseRemainingMs) + " (" + (share * 100).toFixed(0) + " % of TTL)"), bar);
  }
}

function renderCandidates(candidates, leader, clocks) {
  $("candidates").replaceChildren(...candidates.map((c) => {
    const li = el("li", "", c.node + (leader && leader.node === c.node ? " (leader)" : ""));
    li.append(el("span", "muted", " " + c.host + " pid " + c.pid + ", campaigning since " + when(c.since)));
    const clock = clocks.find((k) => k.node === c.node);
    if (clock) {
      const off = clock.offsetMs / 1000;
      li.append(el("span", Math.abs(off) >= 2 ? "error" : "muted", ", clock " + (off >= 0 ? "+" : "") + off.toFixed(1) + " s"));
    }
    return li;
  }));
}

function renderLocks(locks) {
  if (locks.length === 0) {
    $("locks").replaceChildren(el("li", "muted", "none"));
    return;
  }
  $("locks").replaceChildren(...locks.map((l) => {
    const li = el("li", "", l.seats === undefined ? l.name : l.name + " (seat of " + l.seats + ")");
    const who = l.holder ? l.holder.node + " (" + l.holder.host + " pid " + l.holder.pid + ") since " + when(l.holder.since) : "a foreign holder";
    li.append(el("span", "muted", " token " + l.token + ", " + who + (l.waiting ? ", " + l.waiting + " waiting" : "")));
    return li;
  }));
}

function mebibytes(bytes) {
  return (bytes / 1048576).toFixed(1) + " MiB";
}

function renderStorage(storage) {
  const over = storage.estimateBytes > storage.budgetBytes;
  $("storage").className = over ? "error" : "muted";
  $("storage").textContent = "storage: run records and job states take at most " + mebibytes(storage.estimateBytes) + " of the " + mebibytes(storage.budgetBytes) + " storage_budget";
}

function renderJobs(status) {
  const jobs = status.jobs.map((job) => ({ job, health: health(job.last) }));
  jobs.sort((a, b) => RANK[a.health] - RANK[b.health] || String(a.job.next ?? "~").localeCompare(String(b.job.next ?? "~")));
  const count = (h) => jobs.filter((j) => j.health === h).length;
  const missedTotal = status.jobs.reduce((n, job) => n + job.missedTotal, 0);
  const skippedTotal = status.jobs.reduce((n, job) => n + job.skippedTotal, 0);
  $("counts").replaceChildren(
    el("span", "", "failing " + count("failing")),
    el("span", "", "last slot missed or skipped " + count("missed")),
    el("span", "", "running " + count("running")),
    el("span", "", "ok " + count("ok")),
    el("span", "", "never run " + count("neverRun")),
    el("span", "", "missed slots in total " + missedTotal),
    el("span", "", "skipped slots in total " + skippedTotal),
  );
  $("paging").textContent = status.total > status.jobs.length ? "showing the first " + status.jobs.length + " of " + status.total + " jobs" : "";
  $("jobs").replaceChildren(...jobs.map(({ job }) => {
    const li = el("li", "job");
    li.dataset.job = job.name;
    const last = job.last;
    const outcome = last ? last.outcome : "never run";
    li.append(el("span", "name", job.name), el("span", "outcome o-" + (last ? last.outcome : "none"), outcome));
    const parts = [job.schedule + " (" + job.timezone + ")", "next " + when(job.next), "missed " + job.missedTotal, "skipped " + job.skippedTotal];
    if (last) {
      parts.push("last slot " + when(last.scheduledAt) + " on " + last.node);
      if (last.token !== undefined) parts.push("token " + last.token);
      if (last.seatToken !== undefined) parts.push("seat token " + last.seatToken);
      if (last.durationMs !== undefined) parts.push("took " + seconds(last.durationMs));
      if (last.reason) parts.push("reason " + last.reason);
    }
    li.append(el("span", "detail", parts.join(" · ")), timeline(job.recent || []));
    return li;
  }));
}

/** The job's newest runs, oldest left: a coloured mark each, its outcome, token and duration in the title. */
function timeline(runs) {
  const box = el("div", "timeline");
  for (const run of [...runs].reverse()) {
    const mark = el("i", "o-" + run.outcome);
    const about = [run.outcome, when(run.scheduledAt)];
    if (run.token !== undefined) about.push("token " + run.token);
    if (run.durationMs !== undefined) about.push("took " + seconds(run.durationMs));
    if (run.reason) about.push(run.reason);
    mark.title = about.join(" · ");
    mark.setAttribute("aria-label", mark.title);
    box.append(mark);
  }
  return box;
}

async function refresh() {
  try {
    const res = await fetch("status?limit=1000&recent=" + TIMELINE_RUNS, { cache: "no-store" });
    if (!res.ok) throw new Error(res.status + " " + (await res.text()).trim());
    const status = await res.json();
    $("cluster").textContent = status.cluster + " (" + status.backend + ")";
    renderLeader(status.leader);
    renderCandidates(status.candidates, status.leader, status.clocks);
    renderStorage(status.storage);
    renderLocks(status.locks);
    renderJobs(status);
    $("updated").className = "";
    $("updated").textContent = "updated " + when(status.at) + ", every " + REFRESH_MS / 1000 + " s";
    $("updated").dataset.at = when(status.at);
  } catch (err) {
    $("updated").className = "error";
    $("updated").textContent = "cannot read /status (" + err.message + "); showing the data of " + ($("updated").dataset.at || "never");
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
`;
