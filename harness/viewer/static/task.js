// One task: outcomes per system, the pass-matrix heat map, selector scores, candidates, trajectories.
import { api, badge, enc, h, longText, money, num, pct, replace, scoreCell, setCrumbs, table } from "./util.js";

const CELL = { 0: ["fail", "#e8b4ae"], 1: ["pass", "#3f9a5c"], 2: ["error", "#e39a3b"], 3: ["timeout", "#8d6cc4"] };
const CANDIDATES_SHOWN = 40;

function outcomes(task) {
  return table(["system", "resolved (pass@1)", "oracle", "random pick", "selected", "candidates", "seeds", "cost",
    "tokens in", "tokens out"],
  task.cells.map((c) => h("tr", {}, h("td", {}, c.system), scoreCell(c.resolved), scoreCell(c.oracle),
    h("td", { class: "num" }, pct(c.random_pick)), h("td", { class: "mono" }, c.selected || "–"),
    h("td", { class: "num" }, num(c.n_candidates)), h("td", { class: "num" }, c.n_seeds),
    h("td", { class: "num" }, money(c.cost_usd)), h("td", { class: "num" }, num(c.input_tokens)),
    h("td", { class: "num" }, num(c.output_tokens)))), { class: "grid", id: "outcomes" });
}

// Row order: by a selector's score (best first) or as stored.
function order(task, selector) {
  const n = task.matrix.candidate_ids.length;
  const idx = [...Array(n).keys()];
  const r = task.rankings.find((x) => x.selector === selector);
  if (r) idx.sort((a, b) => r.scores[b] - r.scores[a] || a - b);
  return idx;
}

function heatmap(task, rows) {
  const m = task.matrix;
  const cols = m.test_ids.length;
  const size = Math.max(4, Math.min(22, Math.floor(720 / Math.max(cols, 1))));
  const label = 64;
  const canvas = h("canvas", { id: "heatmap", width: label + 18 + cols * size, height: rows.length * size + 2 });
  const g = canvas.getContext("2d");
  g.font = `${Math.min(12, size)}px ui-monospace, monospace`;
  g.textBaseline = "middle";
  rows.forEach((i, y) => {
    g.fillStyle = "#333";
    g.fillText(m.candidate_ids[i].slice(0, 9), 2, y * size + size / 2 + 1);
    if (task.correct) {
      g.fillStyle = task.correct[i] ? "#2f7d4a" : "#c0392b";
      g.fillRect(label, y * size + 1, size - 2, size - 2);
    }
    for (let j = 0; j < cols; j++) {
      g.fillStyle = (CELL[m.cells[i][j]] || ["?", "#ccc"])[1];
      g.fillRect(label + 18 + j * size, y * size + 1, size - 1, size - 1);
    }
  });
  const tip = h("div", { class: "tip muted", id: "heat-tip" }, "hover a cell");
  canvas.addEventListener("mousemove", (ev) => {
    const rect = canvas.getBoundingClientRect();
    const j = Math.floor((ev.clientX - rect.left - label - 18) / size);
    const y = Math.floor((ev.clientY - rect.top) / size);
    if (y < 0 || y >= rows.length || j < 0 || j >= cols) return;
    const i = rows[y];
    tip.textContent = `${m.candidate_ids[i]} × ${m.test_ids[j]}: ${(CELL[m.cells[i][j]] || ["?"])[0]}`;
  });
  const legend = h("div", { class: "legend" },
    Object.values(CELL).map(([name, color]) => h("span", {}, h("i", { class: `sw sw-${name}` }), name)),
    task.correct ? h("span", {}, "left column: hidden tests ", h("i", { class: "sw sw-pass" }), "correct ",
      h("i", { class: "sw sw-wrong" }), "wrong") : null);
  return h("div", { class: "heat" }, legend, h("div", { class: "scroll" }, canvas), tip);
}

function scores(task, rows) {
  const m = task.matrix;
  const passes = m.cells.map((r) => r.filter((c) => c === 1).length);
  const top = task.rankings.map((r) => new Set(r.groups[0] || []));
  return table(["candidate", "hidden tests", "tests passed", ...task.rankings.map((r) => r.selector)],
    rows.map((i) => h("tr", {}, h("td", { class: "mono" }, m.candidate_ids[i]),
      h("td", {}, task.correct ? (task.correct[i] ? badge("correct", "ok") : badge("wrong", "bad")) : "–"),
      h("td", { class: "num" }, `${passes[i]}/${m.test_ids.length}`),
      task.rankings.map((r, k) => h("td", { class: `num ${top[k].has(i) ? "top" : ""}` },
        Number(r.scores[i]).toPrecision(4))))),
    { class: "grid compact", id: "scores" });
}

function matrixSection(task) {
  if (!task.matrix) return h("p", { class: "muted" }, "This run has no pass matrix for this task.");
  const pick = h("select", { id: "order" }, h("option", { value: "" }, "stored order"),
    task.rankings.map((r) => h("option", { value: r.selector }, `ordered by ${r.selector}`)));
  const body = h("div");
  const draw = () => {
    const rows = order(task, pick.value);
    replace(body, heatmap(task, rows),
      task.rankings.length ? [h("h3", {}, "Selector scores (top group highlighted)"), scores(task, rows)] : null);
  };
  pick.addEventListener("change", draw);
  if (task.rankings.length) pick.value = task.rankings[task.rankings.length - 1].selector;
  draw();
  return h("section", {}, h("h2", {}, `Pass matrix (${task.matrix.candidate_ids.length} candidates × `
    + `${task.matrix.test_ids.length} generated tests)`), pick, body);
}

function candidates(task) {
  if (!task.candidates.length) return null;
  const correct = new Map((task.matrix?.candidate_ids || []).map((id, i) => [id, task.correct?.[i]]));
  const item = (c) => h("details", { class: "cand" },
    h("summary", {}, h("span", { class: "mono" }, c.id), " · ", c.provenance?.model || "",
      correct.get(c.id) === true ? h("span", { class: "badge ok" }, "correct")
        : correct.get(c.id) === false ? h("span", { class: "badge bad" }, "wrong") : null),
    longText(c.code, 8000, "code"));
  const list = h("div", { id: "candidates" }, task.candidates.slice(0, CANDIDATES_SHOWN).map(item));
  const rest = task.candidates.length - CANDIDATES_SHOWN;
  const more = rest > 0 ? h("button", { class: "link", onclick: () => {
    task.candidates.slice(CANDIDATES_SHOWN).forEach((c) => list.append(item(c))); more.remove();
  } }, `show ${rest} more`) : null;
  return h("section", {}, h("h2", {}, `Candidates (${task.candidates.length})`), list, more);
}

// A repository task's hidden-test verdict, in the swebench report shape.
function evaluation(ev) {
  if (!ev) return null;
  const ts = ev.tests_status || {};
  const group = (name) => {
    const g = ts[name] || { success: [], failure: [] };
    return h("div", { class: "evgroup" }, h("strong", {}, `${name}: `),
      `${g.success.length} pass, ${g.failure.length} fail`,
      g.failure.length ? h("ul", {}, g.failure.slice(0, 50).map((t) => h("li", { class: "mono" }, t))) : null);
  };
  const hx = ev.harness || ev; // harness eval nests its own fields; harness run keeps them at the top
  return h("section", { id: "evaluation" }, h("h2", {}, "Hidden-test evaluation"),
    h("div", { class: "meta" }, ev.resolved ? badge("resolved", "ok") : badge("not resolved", "bad"),
      badge(ev.patch_successfully_applied ? "patch applied" : "patch not applied", ev.patch_successfully_applied ? "ok" : "bad"),
      hx.outcome ? h("span", {}, `outcome: ${hx.outcome}`) : null,
      hx.apply_method ? h("span", { class: "muted" }, `applied with ${hx.apply_method}`) : null,
      hx.error ? h("span", { class: "errtext" }, hx.error) : null),
    group("FAIL_TO_PASS"), group("PASS_TO_PASS"));
}

function trajectories(runDir, task) {
  if (!task.trajectories.length) return h("p", { class: "muted" }, "No trajectories for this task.");
  return table(["trajectory", "events", "cost", "event types"], task.trajectories.map((t) => h("tr", {},
    h("td", {}, h("a", { href: `#/traj/${enc(runDir)}/${enc(task.task_id)}/${enc(t.traj_id)}` }, t.traj_id)),
    h("td", { class: "num" }, num(t.n_events)), h("td", { class: "num" }, money(t.cost_usd)),
    h("td", {}, Object.entries(t.types).map(([k, v]) => h("span", { class: `chip ev-${k}` }, `${k} ${v}`))))),
  { class: "grid", id: "trajectories" });
}

export async function taskPage(ctx, [runDir, taskId]) {
  setCrumbs({ text: "runs", href: "#/" }, { text: runDir, href: `#/run/${enc(runDir)}` }, { text: taskId });
  const task = await api("task", { run: runDir, task: taskId });
  const trajBox = h("div", {}, trajectories(runDir, task));
  const outBox = h("div", {}, outcomes(task));
  replace(ctx.main, h("h1", {}, taskId), h("h2", {}, "Outcomes"), outBox,
    evaluation(task.evaluation), h("h2", {}, "Trajectories"), trajBox, matrixSection(task), candidates(task));
  ctx.every(4000, async () => { // a live run adds outcomes and trajectory events
    const fresh = await api("task", { run: runDir, task: taskId });
    replace(trajBox, trajectories(runDir, fresh));
    replace(outBox, outcomes(fresh));
  });
}
