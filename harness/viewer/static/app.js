// Hash router: #/ runs, #/run/<run>, #/task/<run>/<task>, #/traj/<run>/<task>/<traj>?page=N.
// Each page gets a context whose timers are cleared when the user navigates away.
import { errorBox, replace, setLive } from "./util.js";
import { runsPage } from "./runs.js";
import { runPage } from "./run.js";
import { taskPage } from "./task.js";
import { trajPage } from "./traj.js";

const ROUTES = [
  [/^#?\/?$/, runsPage],
  [/^#\/run\/([^/?]+)$/, runPage],
  [/^#\/task\/([^/?]+)\/([^/?]+)$/, taskPage],
  [/^#\/traj\/([^/?]+)\/([^/?]+)\/([^/?]+)$/, trajPage],
];

let current = null;

function newContext(main) {
  const timers = [];
  let alive = true;
  return {
    main,
    get alive() { return alive; },
    // Poll `fn` every `ms` while this page is shown; overlapping calls are skipped.
    every(ms, fn) {
      let busy = false;
      const id = setInterval(async () => {
        if (busy || !alive) return;
        busy = true;
        try { await fn(); } catch (err) { setLive(`update failed: ${err.message}`); } finally { busy = false; }
      }, ms);
      timers.push(id);
    },
    close() { alive = false; timers.forEach(clearInterval); },
  };
}

async function route() {
  const [path, query] = location.hash.split("?");
  const params = new URLSearchParams(query || "");
  if (current) current.close();
  const main = document.getElementById("app");
  const ctx = newContext(main);
  current = ctx;
  setLive("");
  for (const [pattern, page] of ROUTES) {
    const m = path.match(pattern);
    if (!m) continue;
    try {
      await page(ctx, m.slice(1).map(decodeURIComponent), params);
    } catch (err) {
      if (ctx.alive) replace(main, errorBox(err));
    }
    document.body.dataset.page = page.name;
    return;
  }
  replace(main, errorBox(new Error(`no page for ${location.hash}`)));
}

window.addEventListener("hashchange", route);
route();
