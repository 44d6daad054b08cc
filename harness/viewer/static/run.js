// One run: status, systems, plots, cost per stage, and the task table (filter by status and text, paged).
import {
  api, badge, enc, h, longText, money, num, pct, replace, scoreCell, setCrumbs, setLive, statusBadge, table,
  when,
} from "./util.js";

const PAGE = 50;

function summary(run) {
  const problems = run.partial
    ? h("div", { class: "partial", id: "partial" }, h("strong", {}, "Partial run: "),
      "figures cover what exists so far.", h("ul", {}, run.problems.map((p) => h("li", {}, p))))
    : null;
  const systems = table(
    ["system", "tasks", "seeds", "pass@1 of choice", "oracle", "random pick", "B4 tasks", "B4 pass@1", "B4 random",
      "cost", "tokens in", "tokens out", "time"],
    run.systems.map((s) => h("tr", {},
      h("td", {}, s.system), h("td", { class: "num" }, num(s.n_tasks)), h("td", { class: "num" }, s.n_seeds),
      h("td", { class: "num strong" }, pct(s.pass_at_1)), h("td", { class: "num" }, pct(s.oracle)),
      h("td", { class: "num" }, pct(s.random_pick)), h("td", { class: "num" }, s.relevant_tasks),
      h("td", { class: "num" }, pct(s.relevant_pass_at_1)), h("td", { class: "num" }, pct(s.relevant_random_pick)),
      h("td", { class: "num" }, money(s.cost_usd)), h("td", { class: "num" }, num(s.input_tokens)),
      h("td", { class: "num" }, num(s.output_tokens)), h("td", { class: "num" }, `${s.time_s.toFixed(1)}s`))),
    { id: "systems", class: "grid" });
  const stages = table(["stage", "calls", "tokens in", "tokens out", "cost", "time"],
    [...run.stages, run.total].map((s) => h("tr", { class: s.stage === "total" ? "total" : "" },
      h("td", {}, s.stage), h("td", { class: "num" }, num(s.calls)), h("td", { class: "num" }, num(s.input_tokens)),
      h("td", { class: "num" }, num(s.output_tokens)), h("td", { class: "num" }, money(s.cost_usd)),
      h("td", { class: "num" }, `${s.time_s.toFixed(1)}s`))),
    { id: "stages", class: "grid compact" });
  const stamp = Date.now();
  const figure = (src, name) => h("figure", {}, h("a", { href: src, target: "_blank", title: "full size" },
    h("img", { src, alt: `${name} plot`, class: "plot" })), h("figcaption", { class: "small muted" }, name));
  const plots = [
    ...run.plots.map((name) => figure(`/api/plot?run=${enc(run.dir)}&name=${enc(name)}&t=${stamp}`, name)),
    ...run.run_plots.map((rel) => figure(`/api/plot?run=${enc(run.dir)}&file=${enc(rel)}&t=${stamp}`, rel)),
  ];
  const manifest = run.manifest ? h("details", {}, h("summary", {}, "manifest (config, seeds, versions)"),
    longText(JSON.stringify(run.manifest, null, 2), 20000)) : h("p", { class: "muted" }, "no manifest.json");
  return [
    h("div", { class: "meta" }, badge(run.kind), statusBadge(run.status, run.partial),
      h("span", {}, `created ${when(run.created_at)}`), h("span", {}, `${num(run.n_tasks)} tasks`),
      h("span", {}, `${num(run.n_trajectories)} trajectories`), h("span", {}, `total ${money(run.total.cost_usd)}`)),
    problems,
    h("h2", {}, "Systems"), systems,
    h("p", { class: "muted small" }, Object.entries(run.methods).map(([k, v]) => h("span", { class: "method" }, `${k}: ${v}. `))),
    plots.length ? [h("h2", {}, "Plots"), h("div", { class: "plots" }, plots)] : null,
    h("h2", {}, "Cost per stage"), stages,
    manifest,
  ];
}

function taskRow(runDir, systems, row) {
  return h("tr", { class: "task-row" },
    h("td", {}, h("a", { href: `#/task/${enc(runDir)}/${enc(row.task_id)}` }, row.task_id)),
    scoreCell(row.oracle), h("td", { class: "num" }, pct(row.random_pick)),
    h("td", { class: "num" }, num(row.n_candidates)),
    systems.map((s) => {
      const cell = row.cells.find((c) => c.system === s);
      return cell ? scoreCell(cell.resolved) : h("td", { class: "muted" }, "–");
    }),
    h("td", { class: "num" }, row.n_trajectories || ""),
    h("td", { class: "num" }, money(row.cost_usd)));
}

function taskTable(ctx, runDir) {
  const state = { status: "", q: "", system: "", offset: 0 };
  const status = h("select", { id: "f-status", "aria-label": "status" });
  const system = h("select", { id: "f-system", "aria-label": "system" });
  const text = h("input", { id: "f-text", type: "search", placeholder: "filter task id or candidate…" });
  const info = h("span", { class: "muted", id: "t-info" });
  const prev = h("button", { id: "t-prev" }, "‹ prev");
  const next = h("button", { id: "t-next" }, "next ›");
  const holder = h("div", { id: "tasks" });
  let timer = null;
  let asked = 0;
  let answered = 0;
  const load = async () => {
    const mine = ++asked;
    const data = await api("tasks", { run: runDir, ...state, limit: PAGE });
    holder.dataset.answered = String(++answered); // answers received, drawn or not (tests wait on it)
    // Two filter changes in a row send two requests whose answers may come back in either order:
    // only the latest one is drawn, so the table never shows an older filter's rows.
    if (mine !== asked) return;
    if (!status.options.length) {
      addOptions(status, [["", "all statuses"], ...data.statuses.map((s) => [s, s])]);
    }
    if (system.options.length !== data.systems.length) {
      replace(system, data.systems.map((s) => h("option", { value: s }, `status of ${s}`)));
    }
    system.value = data.system;
    info.textContent = data.filtered
      ? `${state.offset + 1}–${Math.min(state.offset + PAGE, data.filtered)} of ${data.filtered} (${data.total} tasks)`
      : `no task matches (${data.total} tasks)`;
    prev.disabled = state.offset === 0;
    next.disabled = state.offset + PAGE >= data.filtered;
    replace(holder, table(["task", "oracle", "random", "candidates", ...data.systems, "traj.", "cost"],
      data.rows.map((r) => taskRow(runDir, data.systems, r)), { class: "grid" }));
  };
  const addOptions = (sel, opts) => opts.forEach(([v, t]) => sel.append(h("option", { value: v }, t)));
  status.addEventListener("change", () => { state.status = status.value; state.offset = 0; load(); });
  system.addEventListener("change", () => { state.system = system.value; state.offset = 0; load(); });
  text.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = text.value; state.offset = 0; load(); }, 200);
  });
  prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
  next.addEventListener("click", () => { state.offset += PAGE; load(); });
  const view = h("section", {}, h("h2", {}, "Tasks"),
    h("div", { class: "filters" }, status, system, text, prev, next, info), holder);
  return { view, load };
}

export async function runPage(ctx, [runDir]) {
  setCrumbs({ text: "runs", href: "#/" }, { text: runDir });
  const run = await api("run", { run: runDir });
  const top = h("div", { id: "summary" }, summary(run));
  const tasks = taskTable(ctx, runDir);
  await tasks.load();
  replace(ctx.main, h("h1", {}, run.run_id), top, tasks.view);
  let last = JSON.stringify(run);
  ctx.every(3000, async () => {
    const fresh = await api("run", { run: runDir });
    const key = JSON.stringify(fresh);
    if (key !== last) { // re-draw only what changed; the filters keep their state
      last = key;
      replace(top, summary(fresh));
      await tasks.load();
    }
    setLive(fresh.status === "done" ? "" : `live · updated ${new Date().toLocaleTimeString()}`);
  });
}
