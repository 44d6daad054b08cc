// The runs list: every run folder under the results folder, newest first, refreshed while open.
import { api, enc, h, money, num, pct, replace, setCrumbs, setLive, statusBadge, table, when } from "./util.js";

function row(run) {
  const name = run.dir ? h("a", { href: `#/run/${enc(run.dir)}` }, run.run_id) : h("span", {}, run.run_id);
  const headline = run.systems.slice(0, 6).map((s) => h("span", { class: "chip" }, `${s.system} ${pct(s.pass_at_1)}`));
  return h("tr", { class: "run-row" },
    h("td", {}, name, run.missing ? h("span", { class: "muted" }, " (folder missing)") : null,
      run.error ? h("div", { class: "errtext small" }, `unreadable: ${run.error}`) : null),
    h("td", {}, run.kind),
    h("td", {}, statusBadge(run.status, run.partial)),
    h("td", {}, when(run.created_at)),
    h("td", { class: "num" }, num(run.n_tasks)),
    h("td", {}, headline),
    h("td", { class: "num" }, money(run.cost_usd)));
}

export async function runsPage(ctx) {
  setCrumbs({ text: "runs" });
  const body = h("div");
  const render = (data) => {
    const rows = data.runs.map(row);
    replace(body,
      h("p", { class: "muted" }, `${data.runs.length} runs in ${data.results_dir}`),
      rows.length ? table(["run", "kind", "status", "created", "tasks", "pass@1 of the choice", "cost"], rows,
        { id: "runs", class: "grid" }) : h("p", {}, "No runs yet: start one with harness select or harness search."));
  };
  render(await api("runs"));
  replace(ctx.main, h("h1", {}, "Runs"), body);
  ctx.every(3000, async () => { render(await api("runs")); setLive(`updated ${new Date().toLocaleTimeString()}`); });
}
