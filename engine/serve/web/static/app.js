// quarry serve's search page: plain JavaScript over the index API
// (GET v1/indexes, GET v1/indexes/{name}, POST v1/indexes/{name}/search).
// The URL holds the search (q, index, mode, rerank, filter..., sort, dir, k),
// so a search can be shared and reloaded. Document text reaches the DOM only
// through textContent: nothing from the server is parsed as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  };

  const KEY = "quarry.apiKey";
  const MODE_ORDER = ["bm25", "dense", "sparse", "hybrid"];
  const FIELD_FIRST = ["pipeline_tag", "library_name", "tags"];
  const SORT_FIRST = ["likes", "downloads", "lastModified"];
  const LABELS = {
    pipeline_tag: "Task", library_name: "Library", tags: "Tags",
    likes: "Likes", downloads: "Downloads", lastModified: "Last modified",
  };
  const SHOWN_VALUES = 8; // facet values listed before "more"
  const SHOWN_TAGS = 12;
  const FIELD_RE = /^[^=!<>\s"']+$/; // field names a filter can name
  const TEXT_INPUTS = /^(text|search|password|number|date|email|url|tel)$/;

  const q = $("q");
  let indexes = []; // summaries of GET v1/indexes
  let summary = null; // the current index's summary
  let facets = {}; // its facets (GET v1/indexes/{name})
  let facetOrder = []; // filterable fields, in display order
  // The filter state behind the controls.
  let sel = new Map(); // field -> Set of values (FIELD=V1,V2: any of them)
  let range = new Map(); // field -> {min, max} (FIELD>=min, FIELD<=max)
  let extra = []; // URL filters no control stands for (kept, shown as chips)
  let ctl = null; // AbortController of the search in flight
  let seq = 0;

  // ---- API ----

  class APIError extends Error {
    constructor(status, type, message) {
      super(message);
      this.status = status;
      this.type = type;
    }
  }

  async function api(path, opts = {}) {
    const headers = { Accept: "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = "Bearer " + key;
    let r;
    try {
      r = await fetch(path, { ...opts, headers });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new APIError(0, "Network", "the server cannot be reached (" + e.message + ")");
    }
    const text = await r.text();
    let data = null;
    try {
      data = JSON.parse(text);
    } catch (_) {
      // not JSON: said below
    }
    if (!r.ok) {
      const msg = data && typeof data.error === "string" ? data.error : text.trim() || r.statusText;
      const type = data && typeof data.error_type === "string" ? data.error_type : "";
      throw new APIError(r.status, type, msg);
    }
    if (data === null || typeof data !== "object") {
      throw new APIError(r.status, "", "the server's answer is not a JSON object");
    }
    return { data, headers: r.headers };
  }

  function showError(e) {
    const box = $("error");
    box.replaceChildren();
    if (!e) {
      box.hidden = true;
      return;
    }
    const head = [e.status ? String(e.status) : "", e.type || ""].filter(Boolean).join(" ");
    if (head) box.append(el("strong", "", head + ": "));
    box.append(document.createTextNode(e.message || String(e)));
    box.hidden = false;
    if (e.status === 401) {
      $("settings").open = true;
      $("api-key").focus();
    }
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // ---- filter syntax (engine/meta: ParseFilter and Filter.String) ----

  function quoteValue(v) {
    if (v === "" || /[,"\\]/.test(v) || v.trim() !== v || v[0] === "=") {
      return '"' + v.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
    }
    return v;
  }

  function splitValues(s) {
    const vals = [];
    let i = 0;
    for (;;) {
      while (s[i] === " ") i++;
      let v;
      if (s[i] === '"') {
        let j = i + 1;
        v = "";
        for (; j < s.length && s[j] !== '"'; j++) {
          if (s[j] === "\\") {
            if (s[j + 1] !== '"' && s[j + 1] !== "\\") return null;
            j++;
          }
          v += s[j];
        }
        if (j >= s.length) return null;
        i = j + 1;
        while (s[i] === " ") i++;
        if (i < s.length && s[i] !== ",") return null;
      } else {
        let j = s.indexOf(",", i);
        if (j < 0) j = s.length;
        v = s.slice(i, j).replace(/ +$/, "");
        i = j;
        if (v === "" || v.includes('"')) return null;
      }
      vals.push(v);
      if (i >= s.length) return vals;
      i++;
      if (i >= s.length) return null;
    }
  }

  function parseFilter(s) {
    const i = s.search(/[=!<>]/);
    if (i <= 0) return null;
    let field = s.slice(0, i).trim();
    if (!FIELD_RE.test(field)) return null;
    if (field === "task") field = "pipeline_tag";
    let rest = s.slice(i);
    let op = null;
    for (const o of ["!=", ">=", "<=", "==", "=", ">", "<"]) {
      if (rest.startsWith(o)) {
        op = o === "==" ? "=" : o;
        rest = rest.slice(o.length);
        break;
      }
    }
    const values = op && splitValues(rest);
    return values ? { field, op, values } : null;
  }

  // ---- URL state ----

  function readURL() {
    const p = new URLSearchParams(location.search);
    const k = parseInt(p.get("k") || "", 10);
    return {
      q: p.get("q") || "",
      index: p.get("index") || "",
      mode: p.get("mode") || "",
      rerank: p.get("rerank") || "",
      filters: p.getAll("filter"),
      sort: p.get("sort") || "",
      dir: p.get("dir") === "asc" ? "asc" : "desc",
      k: k > 0 ? k : 10,
    };
  }

  function stateURL(st) {
    const p = new URLSearchParams();
    if (st.q) p.set("q", st.q);
    if (st.index) p.set("index", st.index);
    if (st.mode) p.set("mode", st.mode);
    if (st.rerank) p.set("rerank", st.rerank);
    for (const f of st.filters) p.append("filter", f);
    if (st.sort) {
      p.set("sort", st.sort);
      p.set("dir", st.dir);
    }
    if (st.k !== 10) p.set("k", String(st.k));
    const s = p.toString();
    return location.pathname + (s ? "?" + s : "");
  }

  // activeFilters is the filters of the controls, in the engine's syntax
  // (filter) and as a person reads them (text).
  function activeFilters() {
    const out = [];
    for (const f of facetOrder) {
      const label = LABELS[f] || f;
      const vs = sel.get(f);
      if (vs && vs.size) out.push({ filter: f + "=" + [...vs].map(quoteValue).join(","), text: label + ": " + [...vs].join(" | ") });
      const r = range.get(f);
      if (r && r.min !== "") out.push({ filter: f + ">=" + r.min, text: label + " ≥ " + r.min });
      if (r && r.max !== "") out.push({ filter: f + "<=" + r.max, text: label + " ≤ " + r.max });
    }
    return out.concat(extra.map((f) => ({ filter: f, text: f })));
  }

  function filterList() {
    return activeFilters().map((f) => f.filter);
  }

  function currentState() {
    let rerank = "";
    if ($("rerank").checked && !$("rerank-box").hidden) {
      const m = $("rerank-model");
      rerank = m.hidden || m.selectedIndex <= 0 ? "1" : m.value;
    }
    const mode = document.querySelector('input[name="mode"]:checked');
    return {
      q: q.value.trim(),
      index: summary ? summary.name : "",
      mode: mode ? mode.value : "",
      rerank,
      filters: filterList(),
      sort: $("sort").value,
      dir: $("dir").dataset.dir || "desc",
      k: parseInt($("k").value, 10) || 10,
    };
  }

  // applyState sets the controls from a state (the current index's facets loaded).
  function applyState(st) {
    q.value = st.q;
    const modes = summary.modes || [];
    let mode = modes.includes(st.mode) ? st.mode : modes.includes("hybrid") ? "hybrid" : modes[0];
    for (const r of document.querySelectorAll('input[name="mode"]')) r.checked = r.value === mode;
    const models = summary.rerank_models || [];
    $("rerank").checked = models.length > 0 && st.rerank !== "" && st.rerank !== "0";
    if (models.includes(st.rerank)) $("rerank-model").value = st.rerank;
    else $("rerank-model").selectedIndex = 0;
    sel = new Map();
    range = new Map();
    extra = [];
    for (const s of st.filters) {
      const f = parseFilter(s);
      const facet = f && facets[f.field];
      const kind = facet && facet.type;
      if (f && f.op === "=" && facet && isValueFacet(facet) && !sel.has(f.field)) {
        sel.set(f.field, new Set(f.values));
      } else if (f && (f.op === ">=" || f.op === "<=") && (kind === "number" || kind === "time") && f.values.length === 1) {
        const r = range.get(f.field) || { min: "", max: "" };
        const side = f.op === ">=" ? "min" : "max";
        if (r[side] !== "") {
          extra.push(s);
          continue;
        }
        r[side] = f.values[0];
        range.set(f.field, r);
      } else {
        extra.push(s);
      }
    }
    const sort = $("sort");
    sort.value = "";
    if (st.sort) {
      if (![...sort.options].some((o) => o.value === st.sort)) sort.append(new Option(st.sort, st.sort));
      sort.value = st.sort;
    }
    setDir(st.dir);
    const k = $("k");
    if (![...k.options].some((o) => o.value === String(st.k))) k.append(new Option(String(st.k)));
    k.value = String(st.k);
    renderFacets();
    syncSortDir();
  }

  function setDir(d) {
    const b = $("dir");
    b.dataset.dir = d;
    b.textContent = d === "asc" ? "↑ asc" : "↓ desc";
    b.title = d === "asc" ? "ascending: click for descending" : "descending: click for ascending";
  }

  function syncSortDir() {
    $("dir").hidden = $("sort").value === "";
  }

  // ---- indexes and facets ----

  function isValueFacet(f) {
    return Array.isArray(f.values) && f.values.length > 0 && f.type !== "number" && f.type !== "time";
  }

  async function loadIndexes() {
    const { data } = await api("v1/indexes");
    indexes = Array.isArray(data.indexes) ? data.indexes : [];
    const pick = $("index");
    pick.replaceChildren();
    for (const s of indexes) {
      const docs = typeof s.documents === "number" ? " · " + s.documents.toLocaleString("en-US") + " docs" : "";
      pick.append(new Option(s.name + docs, s.name));
    }
    pick.disabled = indexes.length < 2;
  }

  async function loadIndex(name) {
    const { data } = await api("v1/indexes/" + encodeURIComponent(name));
    summary = data;
    facets = data.facets && typeof data.facets === "object" ? data.facets : {};
    $("index").value = name;
    // Methods.
    const box = $("modes");
    box.querySelectorAll("label").forEach((l) => l.remove());
    const modes = (summary.modes || []).slice().sort((a, b) => rank(MODE_ORDER, a) - rank(MODE_ORDER, b));
    for (const m of modes) {
      const l = el("label", "mode");
      const r = el("input");
      r.type = "radio";
      r.name = "mode";
      r.value = m;
      l.append(r, el("span", "", m));
      box.append(l);
    }
    // Rerank.
    const models = summary.rerank_models || [];
    $("rerank-box").hidden = models.length === 0;
    const rm = $("rerank-model");
    rm.replaceChildren(new Option("default", ""));
    for (const m of models) rm.append(new Option(m, m));
    rm.hidden = models.length < 2;
    // Sort: sortable fields.
    const sort = $("sort");
    sort.replaceChildren(new Option("relevance", ""));
    const sortable = Object.keys(facets).filter((f) => facets[f] && facets[f].sortable);
    sortable.sort((a, b) => rank(SORT_FIRST, a) - rank(SORT_FIRST, b) || cmp(a, b));
    for (const f of sortable) sort.append(new Option(LABELS[f] || f, f));
    // Filterable fields: value lists first (the hub's task, library, tags
    // ahead), then ranges.
    facetOrder = Object.keys(facets).filter((f) => {
      const x = facets[f];
      return x && FIELD_RE.test(f) && (isValueFacet(x) || x.type === "number" || x.type === "time");
    });
    const group = (f) => (isValueFacet(facets[f]) ? 0 : 1);
    facetOrder.sort((a, b) => group(a) - group(b) || rank(FIELD_FIRST, a) - rank(FIELD_FIRST, b) || spread(facets[b]) - spread(facets[a]) || cmp(a, b));
    document.title = "quarry · " + name;
  }

  // spread: documents per distinct value, so that a field with a few shared
  // values comes before one that is nearly an id.
  function spread(f) {
    return isValueFacet(f) ? (f.documents || 0) / f.values.length : 0;
  }

  function rank(list, v) {
    const i = list.indexOf(v);
    return i < 0 ? list.length : i;
  }

  function cmp(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function renderFacets() {
    const root = $("facets");
    root.replaceChildren();
    let opened = 0;
    for (const field of facetOrder) {
      const f = facets[field];
      const g = el("details", "facet");
      g.dataset.field = field;
      const sum = el("summary", "", LABELS[field] || field);
      g.append(sum);
      if (isValueFacet(f)) {
        const chosen = sel.get(field) || new Set();
        if (chosen.size) sum.append(el("span", "count", String(chosen.size)));
        const values = f.values.map((v) => ({ value: String(v.value), count: v.count }));
        for (const v of chosen) if (!values.some((x) => x.value === v)) values.unshift({ value: v, count: null });
        const list = el("ul", "values");
        values.forEach((v, i) => {
          const li = el("li");
          if (i >= SHOWN_VALUES && !chosen.has(v.value)) li.className = "more";
          const l = el("label");
          const c = el("input");
          c.type = "checkbox";
          c.dataset.field = field;
          c.dataset.value = v.value;
          c.checked = chosen.has(v.value);
          l.append(c, el("span", "v", v.value), el("span", "n", v.count === null ? "" : v.count.toLocaleString("en-US")));
          li.append(l);
          list.append(li);
        });
        g.append(list);
        const hidden = list.querySelectorAll("li.more").length;
        if (hidden || f.truncated) {
          const b = el("button", "show-more", hidden ? "show " + hidden + " more" : "");
          b.type = "button";
          if (!hidden) b.hidden = true;
          b.addEventListener("click", () => {
            list.classList.add("all");
            b.hidden = true;
          });
          g.append(b);
          if (f.truncated) g.append(el("p", "note", "the most frequent values"));
        }
        g.open = chosen.size > 0 || opened < 3;
      } else {
        const r = range.get(field) || { min: "", max: "" };
        const row = el("div", "range");
        for (const side of ["min", "max"]) {
          const inp = el("input");
          inp.type = f.type === "time" ? "date" : "number";
          if (f.type === "number") inp.step = "any";
          inp.dataset.field = field;
          inp.dataset.side = side;
          inp.setAttribute("aria-label", (LABELS[field] || field) + (side === "min" ? " from" : " to"));
          const bound = f[side] === undefined || f[side] === null ? "" : String(f[side]);
          inp.placeholder = f.type === "time" ? bound.slice(0, 10) : bound;
          inp.value = r[side];
          row.append(el("span", "", side === "min" ? "≥" : "≤"), inp);
        }
        g.append(row);
        g.open = r.min !== "" || r.max !== "";
        if (r.min !== "" || r.max !== "") sum.append(el("span", "count", "•"));
      }
      if (g.open) opened++;
      root.append(g);
    }
    if (!facetOrder.length) root.append(el("p", "note", "this index has no metadata to filter on"));
    renderActive();
  }

  function renderActive() {
    const box = $("active");
    box.replaceChildren();
    const fl = activeFilters();
    $("filter-count").textContent = fl.length ? String(fl.length) : "";
    for (const f of fl) {
      const b = el("button", "chip active-chip");
      b.type = "button";
      b.title = "remove the filter " + f.filter;
      b.dataset.filter = f.filter;
      b.append(el("span", "", f.text), el("span", "x", "×"));
      box.append(b);
    }
    if (fl.length > 1) {
      const c = el("button", "clear", "clear all");
      c.type = "button";
      c.dataset.clear = "1";
      box.append(c);
    }
  }

  function removeFilter(s) {
    const i = extra.indexOf(s);
    if (i >= 0) {
      extra.splice(i, 1);
      return;
    }
    const f = parseFilter(s);
    if (!f) return;
    if (f.op === "=") sel.delete(f.field);
    const r = range.get(f.field);
    if (r && f.op === ">=") r.min = "";
    if (r && f.op === "<=") r.max = "";
  }

  function toggleValue(field, value, on) {
    const s = sel.get(field) || new Set();
    if (on) s.add(value);
    else s.delete(value);
    if (s.size) sel.set(field, s);
    else sel.delete(field);
  }

  // ---- search and results ----

  async function search(push) {
    const st = currentState();
    const url = stateURL(st);
    if (push && url !== location.pathname + location.search) history.pushState(null, "", url);
    document.title = (st.q ? st.q + " · " : "") + "quarry · " + st.index;
    if (ctl) ctl.abort();
    ctl = null;
    const my = ++seq;
    showError(null);
    if (!st.q) {
      $("results").replaceChildren();
      setStatus(st.index ? "Type a query and press Enter." : "");
      finished();
      return;
    }
    const body = { query: st.q, k: st.k, mode: st.mode };
    if (st.filters.length) body.filters = st.filters;
    if (st.sort) {
      body.sort = st.sort;
      body.direction = st.dir;
    }
    if (st.rerank) body.rerank = st.rerank === "1" ? true : st.rerank;
    ctl = new AbortController();
    setStatus("Searching…");
    document.body.classList.add("busy");
    try {
      const path = "v1/indexes/" + encodeURIComponent(st.index) + "/search";
      const { data, headers } = await api(path, { method: "POST", body: JSON.stringify(body), signal: ctl.signal });
      if (my !== seq) return;
      renderResults(data, headers, st);
    } catch (e) {
      if (my !== seq || e.name === "AbortError") return;
      $("results").replaceChildren();
      setStatus("");
      showError(e);
    } finally {
      if (my === seq) {
        document.body.classList.remove("busy");
        finished();
      }
    }
  }

  // finished counts the searches answered (shown or failed): the browser
  // test waits on it.
  function finished() {
    document.body.dataset.searches = String((parseInt(document.body.dataset.searches || "0", 10) || 0) + 1);
  }

  function renderResults(data, headers, st) {
    const results = Array.isArray(data.results) ? data.results : [];
    const list = $("results");
    list.replaceChildren();
    const terms = queryTerms(st.q);
    results.forEach((r, i) => list.append(resultItem(r, i, terms)));
    let s = results.length === 0 ? "No results" + (st.filters.length ? " with these filters." : ".") : results.length + (results.length === 1 ? " result" : " results");
    const took = headers.get("x-total-time");
    if (results.length && took) s += " · " + (took === "0" ? "< 1" : took) + " ms";
    if (results.length && st.sort) {
      // The engine sorts its pool of max(k, 100) most relevant documents.
      const pool = Math.min(Math.max(st.k, 100), summary && summary.documents > 0 ? summary.documents : Infinity);
      s += " · the " + pool + " most relevant, sorted by " + (LABELS[st.sort] || st.sort) + (st.dir === "asc" ? " ↑" : " ↓");
    }
    setStatus(s);
  }

  const STOP = new Set("a an and are as at be by for from has have in is it its of on or that the this to was were will with".split(" "));
  const WORD = /([\p{L}\p{N}]+)/u;

  function fold(w) {
    return w.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
  }

  // stem is a light suffix strip so that "transcribe" finds "transcribing".
  function stem(w) {
    for (const suf of ["ings", "ing", "ions", "ion", "ers", "er", "ed", "es", "s", "e"]) {
      if (w.length - suf.length >= 3 && w.endsWith(suf)) return w.slice(0, -suf.length);
    }
    return w;
  }

  function queryTerms(text) {
    const out = new Set();
    for (const w of text.split(WORD)) {
      if (!WORD.test(w)) continue;
      const f = fold(w);
      if (!STOP.has(f)) out.add(stem(f));
    }
    return out;
  }

  // highlight appends text to node with the words of terms in <mark>.
  function highlight(node, text, terms) {
    let plain = "";
    for (const part of text.split(WORD)) {
      if (part && terms.size && WORD.test(part) && terms.has(stem(fold(part)))) {
        if (plain) node.append(document.createTextNode(plain));
        plain = "";
        node.append(el("mark", "", part));
      } else {
        plain += part;
      }
    }
    if (plain) node.append(document.createTextNode(plain));
  }

  function num(x) {
    return typeof x === "number" ? x : typeof x === "string" && x.trim() !== "" && isFinite(Number(x)) ? Number(x) : null;
  }

  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

  function fmtScore(x) {
    if (typeof x !== "number") return "";
    const a = Math.abs(x);
    return a !== 0 && (a < 0.001 || a >= 1e5) ? x.toExponential(3) : String(Number(x.toPrecision(4)));
  }

  function chipButton(field, value, cls) {
    const b = el("button", "chip " + cls, value);
    b.type = "button";
    if (facets[field] && isValueFacet(facets[field])) {
      b.dataset.field = field;
      b.dataset.value = value;
      b.title = "filter on " + (LABELS[field] || field) + " = " + value;
    } else {
      b.disabled = true;
    }
    return b;
  }

  function resultItem(r, i, terms) {
    const li = el("li", "result");
    li.dataset.id = String(r.id);
    const md = r.metadata && typeof r.metadata === "object" && !Array.isArray(r.metadata) ? r.metadata : {};
    const head = el("div", "r-head");
    const title = el("h2", "r-title");
    highlight(title, r.title || String(r.id), terms);
    head.append(el("span", "r-rank", String(i + 1)), title);
    li.append(head);
    if (r.title && r.title !== r.id) li.append(el("div", "r-id", String(r.id)));

    const facts = el("div", "r-facts");
    for (const f of ["pipeline_tag", "library_name"]) {
      if (typeof md[f] === "string" && md[f]) facts.append(chipButton(f, md[f], f === "pipeline_tag" ? "task" : "lib"));
    }
    const likes = num(md.likes);
    if (likes !== null) facts.append(stat("♥", likes.toLocaleString("en-US"), "likes: " + likes, "likes"));
    const dl = num(md.downloads);
    if (dl !== null) facts.append(stat("↓", compact.format(Math.round(dl)), "downloads: " + dl, "downloads"));
    if (typeof md.lastModified === "string" && md.lastModified) {
      facts.append(stat("⟳", md.lastModified.slice(0, 10), "last modified: " + md.lastModified, "modified"));
    }
    if (!facts.childElementCount) {
      // Not a hub index: its first few short fields.
      let n = 0;
      for (const [k, v] of Object.entries(md)) {
        if (n >= 4) break;
        if (v === null || typeof v === "object") continue;
        const s = String(v);
        if (s.length > 40) continue;
        facts.append(stat(k, s, k + ": " + s, "field"));
        n++;
      }
    }
    if (facts.childElementCount) li.append(facts);

    if (typeof r.passage === "string" && r.passage.trim()) {
      const p = el("p", "r-passage");
      highlight(p, r.passage.trim(), terms);
      p.title = typeof r.passage_index === "number" && r.passage_index >= 0 ? "passage " + (r.passage_index + 1) : "";
      li.append(p);
    }

    if (Array.isArray(md.tags) && md.tags.length) {
      const tags = el("div", "r-tags");
      md.tags.slice(0, SHOWN_TAGS).forEach((t) => tags.append(chipButton("tags", String(t), "tag")));
      if (md.tags.length > SHOWN_TAGS) tags.append(el("span", "more-tags", "+" + (md.tags.length - SHOWN_TAGS)));
      li.append(tags);
    }

    const sc = el("div", "r-scores");
    const main = el("span", "score main");
    main.append(el("b", "", r.score_kind || "score"), document.createTextNode(" " + fmtScore(r.score)));
    sc.append(main);
    const scores = r.scores && typeof r.scores === "object" ? r.scores : {};
    for (const k of ["dense", "bm25", "sparse", "rerank", "rerank_relevance"]) {
      if (typeof scores[k] !== "number" || k === r.score_kind) continue;
      const s = el("span", "score");
      s.dataset.kind = k;
      s.append(el("b", "", k === "rerank_relevance" ? "relevance" : k), document.createTextNode(" " + fmtScore(scores[k])));
      sc.append(s);
    }
    li.append(sc);

    if (Object.keys(md).length) {
      const d = el("details", "r-meta");
      d.append(el("summary", "", "all fields"));
      d.addEventListener("toggle", () => {
        if (d.open && d.childElementCount === 1) d.append(el("pre", "", JSON.stringify(md, null, 2)));
      });
      li.append(d);
    }
    return li;
  }

  function stat(icon, text, title, cls) {
    const s = el("span", "stat " + cls);
    s.title = title;
    s.append(el("span", "icon", icon), document.createTextNode(" " + text));
    return s;
  }

  // ---- wiring ----

  async function selectIndex(name, st) {
    try {
      await loadIndex(name);
    } catch (e) {
      showError(e);
      return false;
    }
    applyState(st);
    return true;
  }

  async function start() {
    document.body.dataset.ready = "0";
    try {
      await load();
    } finally {
      document.body.dataset.ready = "1";
    }
  }

  async function load() {
    showError(null);
    setStatus("Loading…");
    try {
      await loadIndexes();
    } catch (e) {
      setStatus("");
      showError(e);
      return;
    }
    if (!indexes.length) {
      setStatus("This server holds no index (start it with --index NAME=DIR).");
      return;
    }
    const st = readURL();
    let name = st.index;
    if (!indexes.some((s) => s.name === name)) {
      if (name) showError(new APIError(404, "NotFound", 'no index "' + name + '" on this server; showing ' + indexes[0].name));
      name = indexes[0].name;
    }
    if (!(await selectIndex(name, st))) return;
    const url = stateURL(currentState());
    if (url !== location.pathname + location.search) history.replaceState(null, "", url);
    if (st.index && name !== st.index) {
      setStatus("");
      return; // keep the error in view
    }
    await search(false);
  }

  window.addEventListener("popstate", async () => {
    const st = readURL();
    const name = indexes.some((s) => s.name === st.index) ? st.index : indexes.length ? indexes[0].name : "";
    if (!name) return;
    if (!summary || summary.name !== name) {
      if (!(await selectIndex(name, st))) return;
    } else {
      applyState(st);
    }
    await search(false);
  });

  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    search(true);
  });

  $("index").addEventListener("change", async (e) => {
    const st = currentState();
    st.filters = [];
    st.sort = "";
    if (await selectIndex(e.target.value, st)) search(true);
  });

  $("modes").addEventListener("change", () => search(true));
  $("rerank").addEventListener("change", () => search(true));
  $("rerank-model").addEventListener("change", () => {
    $("rerank").checked = true;
    search(true);
  });
  $("k").addEventListener("change", () => search(true));
  $("sort").addEventListener("change", () => {
    syncSortDir();
    search(true);
  });
  $("dir").addEventListener("click", () => {
    setDir($("dir").dataset.dir === "asc" ? "desc" : "asc");
    search(true);
  });

  $("facets").addEventListener("change", (e) => {
    const t = e.target;
    if (!t.dataset || !t.dataset.field) return;
    if (t.type === "checkbox") {
      toggleValue(t.dataset.field, t.dataset.value, t.checked);
    } else if (t.dataset.side) {
      const r = range.get(t.dataset.field) || { min: "", max: "" };
      r[t.dataset.side] = t.value.trim();
      range.set(t.dataset.field, r);
    } else {
      return;
    }
    renderActiveAndCounts();
    search(true);
  });

  function renderActiveAndCounts() {
    renderActive();
    for (const g of $("facets").querySelectorAll("details.facet")) {
      const field = g.dataset.field;
      const sum = g.querySelector("summary");
      const c = sum.querySelector(".count");
      const vs = sel.get(field);
      const r = range.get(field);
      const mark = vs && vs.size ? String(vs.size) : r && (r.min !== "" || r.max !== "") ? "•" : "";
      if (c && !mark) c.remove();
      else if (c) c.textContent = mark;
      else if (mark) sum.append(el("span", "count", mark));
    }
  }

  $("active").addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    if (b.dataset.clear) {
      sel = new Map();
      range = new Map();
      extra = [];
    } else {
      removeFilter(b.dataset.filter);
    }
    renderFacets();
    search(true);
  });

  $("results").addEventListener("click", (e) => {
    const b = e.target.closest("button.chip");
    if (b && b.dataset.field) {
      toggleValue(b.dataset.field, b.dataset.value, true);
      renderFacets();
      search(true);
      return;
    }
    const p = e.target.closest(".r-passage");
    if (p && !window.getSelection().toString()) p.classList.toggle("full");
  });

  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = $("api-key").value.trim();
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
    $("settings").open = false;
    start();
  });
  $("api-key").value = sessionStorage.getItem(KEY) || "";
  // At phone width the filters start folded above the results.
  if (window.matchMedia("(max-width: 819px)").matches) $("filters-box").open = false;

  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey) {
      const t = e.target;
      const typing = t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || (t.tagName === "INPUT" && TEXT_INPUTS.test(t.type));
      if (typing) return;
      e.preventDefault();
      q.focus();
      q.select();
    } else if (e.key === "Escape" && e.target === q) {
      q.blur();
    }
  });

  start();
})();
