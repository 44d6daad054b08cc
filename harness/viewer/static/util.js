// DOM and fetch helpers. Every string goes into the page as a text node: model output is untrusted.

const SAFE_HREF = /^(#|\/(?!\/))/;

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "href" && !SAFE_HREF.test(String(value))) continue; // only our own links
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export async function api(path, params = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") qs.set(k, v);
  const resp = await fetch(`/api/${path}?${qs}`, { cache: "no-store" });
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
  return body;
}

export const enc = encodeURIComponent;

export function pct(x) {
  return x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`;
}

export function money(x) {
  if (!x) return "$0";
  return x < 0.01 ? `$${x.toFixed(5)}` : `$${x.toFixed(3)}`;
}

export function num(x) {
  return x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US");
}

export function when(ts) {
  if (!ts) return "–";
  return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

export function statusBadge(status, partial) {
  const kind = status === "done" ? "ok" : status === "failed" ? "bad" : status ? "warn" : "";
  return [badge(status || "unindexed", kind), partial ? badge("partial", "warn") : null];
}

// A cell shaded by a value in [0, 1]: 1 is green, 0 red, ties in between.
export function scoreCell(x) {
  if (x === null || x === undefined) return h("td", { class: "num muted" }, "–");
  const cls = x >= 1 ? "yes" : x <= 0 ? "no" : "tie";
  return h("td", { class: `num ${cls}` }, pct(x));
}

export function table(headers, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}

export function errorBox(err) {
  return h("div", { class: "error" }, `Error: ${err.message || err}`);
}

// Long text, shown cut at `limit` characters with a button that reveals the rest.
export function longText(text, limit = 4000, cls = "") {
  const s = typeof text === "string" ? text : JSON.stringify(text, null, 2);
  const pre = h("pre", { class: cls }, s.length > limit ? s.slice(0, limit) : s);
  if (s.length <= limit) return pre;
  const more = h("button", { class: "link", onclick: () => { pre.textContent = s; more.remove(); } },
    `show all (${num(s.length)} chars)`);
  return h("div", {}, pre, more);
}

export function setCrumbs(...parts) {
  const nav = document.getElementById("crumbs");
  replace(nav, parts.flatMap((p, i) => [i ? h("span", { class: "sep" }, "›") : null,
    p.href ? h("a", { href: p.href }, p.text) : h("span", {}, p.text)]));
}

export function setLive(text) {
  document.getElementById("live").textContent = text;
}
