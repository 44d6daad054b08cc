// A trajectory timeline: one page of events at a time (so 10,000 events stay fast), following the log
// as it grows while "follow" is on.
import { api, badge, enc, h, longText, money, num, replace, setCrumbs, setLive } from "./util.js";

const PAGE = 200;
const TYPES = ["start", "model_request", "model_response", "tool_call", "command", "edit", "test_run", "error",
  "note", "end", "unknown", "unreadable"];
// Lines the server could not read as events of this version are shown in place, raw, under these labels.
const LABELS = { unknown: "unknown event", unreadable: "unreadable line" };

function text(x) {
  return typeof x === "string" ? x : JSON.stringify(x, null, 2);
}

function pretty(raw) {
  try { return JSON.stringify(JSON.parse(raw), null, 2); } catch { return raw; }
}

function diffView(diff) {
  const pre = h("pre", { class: "diff" });
  const lines = String(diff || "").split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  for (const line of lines) {
    const cls = line.startsWith("+++") || line.startsWith("---") ? "d-file" : line.startsWith("@@") ? "d-hunk"
      : line.startsWith("+") ? "d-add" : line.startsWith("-") ? "d-del" : "d-ctx";
    pre.append(h("span", { class: cls }, line), "\n");
  }
  return pre;
}

// Flat payloads (start, end, notes) read best as key = value; nested ones as JSON.
function fields(d) {
  const entries = Object.entries(d);
  if (!entries.length) return null;
  if (entries.some(([, v]) => v !== null && typeof v === "object")) return longText(text(d), 4000);
  return h("div", { class: "fields" }, entries.map(([k, v]) => h("span", { class: "chip" }, h("b", {}, k), ` = ${v}`)));
}

function body(e) {
  const d = e.data || {};
  switch (e.type) {
    case "model_request":
      return (d.messages || []).map((m) => h("div", { class: "msg" }, h("span", { class: "role" }, m.role || "?"),
        longText(text(m.content ?? ""), 3000)));
    case "model_response":
      return [longText(text(d.text ?? ""), 6000, "response"),
        h("div", { class: "small muted" }, [d.model, d.finish_reason && `finish: ${d.finish_reason}`].filter(Boolean).join(" · "))];
    case "tool_call":
      return [h("div", { class: "mono" }, d.name || "?"), longText(text(d.arguments ?? {}), 3000)];
    case "command":
      return [h("pre", { class: "cmd" }, `$ ${d.cmd ?? ""}`),
        h("div", { class: "small" }, badge(`exit ${d.exit_code ?? "?"}`, d.exit_code === 0 ? "ok" : "bad"),
          d.status ? ` ${d.status}` : "", d.duration_ms !== undefined ? ` · ${num(d.duration_ms)} ms` : ""),
        d.stdout ? longText(d.stdout, 4000, "out") : null, d.stderr ? longText(d.stderr, 4000, "err") : null];
    case "edit":
      return [h("div", { class: "mono" }, d.path || ""), diffView(d.diff)];
    case "test_run": {
      const ok = ["pass", "passed", "ok"].includes(String(d.status));
      return [h("div", {}, badge(d.status ?? "?", ok ? "ok" : "bad"), d.test_id ? ` ${d.test_id}` : "",
        d.passed !== undefined ? ` · ${d.passed} passed` : "", d.failed !== undefined ? ` · ${d.failed} failed` : ""),
      d.output ? longText(text(d.output), 4000, "out") : null];
    }
    case "error":
      return h("div", { class: "errtext" }, `${d.kind ? d.kind + ": " : ""}${d.message ?? ""}`);
    case "note":
      return d.text !== undefined ? longText(text(d.text), 4000) : fields(d);
    case "unknown":
    case "unreadable":
      return [h("div", { class: "small muted reason" }, e.reason || ""), longText(pretty(String(e.raw ?? "")), 4000, "raw")];
    default:
      return fields(d);
  }
}

function eventView(e, t0) {
  const u = e.usage;
  return h("li", { class: `ev ev-${e.type}`, id: `ev-${e.i}` },
    h("div", { class: "ev-head" }, h("span", { class: "ev-i" }, `#${e.i}`),
      h("span", { class: "ev-type" }, LABELS[e.type] || e.type),
      typeof e.ts === "number" ? h("span", { class: "muted" }, `+${(e.ts - t0).toFixed(2)}s`) : null,
      u ? h("span", { class: "muted" }, `${num(u.input_tokens)} → ${num(u.output_tokens)} tokens`) : null,
      e.cost_usd ? h("span", { class: "cost" }, money(e.cost_usd)) : null,
      h("span", { class: "muted cum" }, `so far ${money(e.cum_cost)}`)),
    h("div", { class: "ev-body" }, body(e)));
}

export async function trajPage(ctx, [runDir, taskId, trajId], params) {
  const base = `#/traj/${enc(runDir)}/${enc(taskId)}/${enc(trajId)}`;
  setCrumbs({ text: "runs", href: "#/" }, { text: runDir, href: `#/run/${enc(runDir)}` },
    { text: taskId, href: `#/task/${enc(runDir)}/${enc(taskId)}` }, { text: trajId });
  const args = { run: runDir, task: taskId, traj: trajId };
  let total = (await api("trajectory", { ...args, offset: 0, limit: 1 })).total;
  const lastPage = () => Math.max(1, Math.ceil(total / PAGE));
  const want = params.get("page");
  const page = want === "last" ? lastPage() : Math.min(Math.max(1, parseInt(want, 10) || 1), lastPage());
  const start = (page - 1) * PAGE;
  const data = await api("trajectory", { ...args, offset: start, limit: PAGE });
  total = data.total;
  const t0 = data.t0 ?? (data.events[0]?.ts || 0);
  const list = h("ol", { class: "events", id: "events", start: start });
  data.events.forEach((e) => list.append(eventView(e, t0)));
  let shown = data.events.length;

  const stats = h("div", { class: "meta", id: "traj-stats" });
  const pageInfo = h("span", { id: "page-info" });
  const go = (p) => { location.hash = `${base}?page=${p}`; };
  const jump = h("input", { type: "number", min: 1, id: "page-jump", "aria-label": "page", value: page });
  jump.addEventListener("change", () => go(Math.min(Math.max(1, parseInt(jump.value, 10) || 1), lastPage())));
  const btn = (id, label, target) => h("button", { id, onclick: () => go(target()) }, label);
  const follow = h("input", { type: "checkbox", id: "follow" });
  follow.checked = !data.ended && page === lastPage();
  const refresh = (d) => {
    replace(stats, h("span", {}, `${num(d.total)} events`), h("span", {}, `total ${money(d.total_cost)}`),
      d.ended ? badge("ended", "ok") : d.run_status === "running" ? badge("live", "warn") : badge("no end event"),
      Object.entries(d.types).map(([k, v]) => h("span", { class: `chip ev-${k}` }, `${k} ${num(v)}`)));
    pageInfo.textContent = `page ${page} of ${lastPage()} · events ${num(start)}–${num(start + shown - 1)}`;
  };
  refresh(data);
  const filters = h("div", { class: "typefilter" }, TYPES.map((t) => {
    const box = h("input", { type: "checkbox", checked: true, "data-type": t });
    box.addEventListener("change", () => list.classList.toggle(`hide-${t}`, !box.checked));
    return h("label", { class: `chip ev-${t}` }, box, t);
  }));
  const pager = h("div", { class: "pager" }, btn("p-first", "« first", () => 1),
    btn("p-prev", "‹ prev", () => Math.max(1, page - 1)), jump, btn("p-next", "next ›", () => Math.min(lastPage(), page + 1)),
    btn("p-last", "last »", lastPage), pageInfo,
    h("label", { class: "follow" }, follow, " follow live"));
  replace(ctx.main, h("h1", {}, `${trajId}`), stats, pager, filters, list,
    h("div", { class: "pager bottom" }, btn("p-prev2", "‹ prev", () => Math.max(1, page - 1)),
      btn("p-next2", "next ›", () => Math.min(lastPage(), page + 1))));

  ctx.every(1500, async () => {
    const room = PAGE - shown;
    const d = await api("trajectory", { ...args, offset: start + shown, limit: Math.max(1, room) });
    total = d.total;
    if (follow.checked && room > 0 && d.events.length) {
      d.events.slice(0, room).forEach((e) => list.append(eventView(e, t0)));
      shown += Math.min(room, d.events.length);
      window.scrollTo(0, document.body.scrollHeight);
    }
    refresh(d);
    if (follow.checked && shown >= PAGE && total > start + PAGE) go(page + 1);
    setLive(d.ended ? "" : `live · ${num(total)} events`);
  });
}
