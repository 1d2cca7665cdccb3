// The report's pages, drawn from the data embedded in this file (no network).
// Everything from the logs is inserted as text (textContent), never as HTML: an agent's
// patch, output or message is untrusted.
"use strict";
(function () {
  const CB = JSON.parse(document.getElementById("cb-data").textContent);
  const PAIRS = JSON.parse(document.getElementById("cb-pairs").textContent);
  const OUTCOME_COLORS = CB.outcome_colors;
  const app = document.getElementById("app");
  const runByLabel = Object.fromEntries(CB.runs.map((r) => [r.label, r]));
  const rowByKey = Object.fromEntries(CB.rows.map((r) => [r.key, r]));

  // ---- small helpers -------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? "–" : (100 * x).toFixed(1) + "%");
  const num = (x, d = 0) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }));
  const money = (x) => (x === null || x === undefined ? "–" : "$" + Number(x).toFixed(4));
  const ci = (iv) => (iv ? `[${pct(iv.low)}, ${pct(iv.high)}]` : "");
  const signedPct = (x) => (x === null || x === undefined ? "–" : (x >= 0 ? "+" : "") + (100 * x).toFixed(1) + " pp");
  const pval = (p) => (p === null || p === undefined ? "–" : p < 0.001 ? p.toExponential(2) : p.toFixed(3));
  const pairHref = (key) => "#/pair/" + encodeURIComponent(key);
  const runHref = (label) => "#/run/" + encodeURIComponent(label);
  function badge(outcome) {
    return h("span", { class: "badge outcome", style: `background:${OUTCOME_COLORS[outcome] || "#777"}`, text: outcome });
  }
  function table(headers, rows, attrs) {
    const head = h("tr", {}, headers.map((c) => h("th", { class: c.num ? "num" : null, text: typeof c === "string" ? c : c.label })));
    const body = rows.map((cells) =>
      h("tr", cells.attrs || {}, cells.map((c, i) => h("td", { class: headers[i].num ? "num" : null }, c)))
    );
    return h("table", attrs || {}, h("thead", {}, head), h("tbody", {}, body));
  }
  const col = (label, isNum) => ({ label, num: !!isNum });
  function card(label, value, sub, attrs) {
    return h("div", Object.assign({ class: "card" }, attrs || {}), h("div", { class: "value", text: value }), h("div", { class: "label", text: label }), sub ? h("div", { class: "muted", text: sub }) : null);
  }
  async function chart(el, name, datasets, tweak) {
    const spec = JSON.parse(JSON.stringify(CB.specs[name]));
    spec.datasets = Object.assign({}, spec.datasets || {}, datasets);
    if (tweak) tweak(spec);
    // Warnings (an empty layer's extent, ...) are not the reader's business; errors still reach the console.
    const result = await vegaEmbed(el, spec, { renderer: "svg", actions: false, logLevel: 1 /* vega.Error */ });
    return result.view;
  }
  async function pairDetail(key) {
    const packed = PAIRS[key];
    if (!packed) return null;
    const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }
  function diffView(text) {
    const pre = h("pre", { class: "diff" });
    for (const line of (text || "").split("\n")) {
      let cls = null;
      if (line.startsWith("diff --git") || line.startsWith("index ") || line.startsWith("--- ") || line.startsWith("+++ ")) cls = "meta";
      else if (line.startsWith("@@")) cls = "hunk";
      else if (line.startsWith("+")) cls = "add";
      else if (line.startsWith("-")) cls = "del";
      pre.append(h("span", { class: cls, text: line || " " }));
    }
    return pre;
  }
  const runConfig = (r) => [r.config.setting, r.config.agent, r.config.model].filter(Boolean).join(" · ");

  // ---- index ---------------------------------------------------------------------------
  function runsTable() {
    return table(
      [col("run"), col("setting"), col("agent"), col("model"), col("policy"), col("pairs", 1), col("attempts", 1), col("pass rate", 1), col("95% CI (Wilson)"), col("excl. infra", 1), col("cost", 1)],
      CB.runs.map((r) => {
        const cells = [
          h("a", { href: runHref(r.label), text: r.label }),
          r.config.setting || "–",
          r.config.agent || "–",
          r.config.model || "–",
          r.config.policy || "–",
          num(r.pairs),
          num(r.attempts),
          h("span", { class: "rate", text: pct(r.pass_rate.pass_rate) }),
          ci(r.pass_rate.interval),
          r.pass_rate_excluding_infra ? pct(r.pass_rate_excluding_infra.pass_rate) : "–",
          money(r.distributions.cost.total || 0),
        ];
        cells.attrs = { class: "run", "data-run": r.label };
        return cells;
      }),
      { id: "runs" }
    );
  }
  function comparisonsTable() {
    return table(
      [col("comparison"), col("common pairs", 1), col("A", 1), col("B", 1), col("A − B", 1), col("95% CI (bootstrap)"), col("McNemar p", 1), col("retention A/B", 1), col("cost ratio A/B", 1)],
      CB.comparisons.map((c, i) => {
        const cells = [
          h("a", { href: "#/compare/" + i, text: `${c.a} vs ${c.b}` }),
          num(c.common_pairs),
          pct(c.rate_a),
          pct(c.rate_b),
          c.difference ? signedPct(c.difference.estimate) : "–",
          c.difference ? `[${signedPct(c.difference.low)}, ${signedPct(c.difference.high)}]` : "",
          pval(c.mcnemar_p),
          c.retention === null ? "–" : c.retention.toFixed(3),
          c.cost.ratio === null ? "–" : c.cost.ratio.toFixed(2) + "×",
        ];
        cells.attrs = { class: "comparison" };
        return cells;
      }),
      { id: "comparisons" }
    );
  }
  function groupsTable() {
    return table(
      [col("configuration"), col("runs"), col("mean pass rate", 1), col("95% CI (t)"), col("sd", 1), col("mean cost", 1)],
      CB.groups.map((g) => {
        const cells = [runConfig({ config: g.config }), g.runs.join(", "), pct(g.pass_rate.estimate), ci(g.pass_rate), pct(g.pass_rate_sd), money(g.cost ? g.cost.estimate : null)];
        cells.attrs = { class: "group" };
        return cells;
      }),
      { id: "groups" }
    );
  }
  function pairsSection() {
    const uniq = (f) => [...new Set(CB.rows.map(f))].sort((a, b) => String(a).localeCompare(String(b), "en", { numeric: true }));
    const select = (id, label, values) =>
      h("label", {}, label + " ", h("select", { id }, h("option", { value: "", text: "all" }), values.map((v) => h("option", { value: String(v), text: String(v) }))));
    const filters = h(
      "div",
      { class: "filters" },
      select("filter-run", "run", uniq((r) => r.run)),
      select("filter-outcome", "outcome", uniq((r) => r.outcome)),
      select("filter-repo", "repository", uniq((r) => r.repo)),
      select("filter-task", "task", uniq((r) => `${r.repo}/${r.task_id}`)),
      h("label", {}, "pair ", h("input", { id: "filter-text", type: "search", placeholder: "e.g. f1_f2" })),
      h("span", { id: "pair-count", class: "muted" })
    );
    const tbody = h("tbody");
    const more = h("button", { id: "show-more", type: "button", hidden: true });
    const tbl = h(
      "table",
      { id: "pairs" },
      h("thead", {}, h("tr", {}, ["run", "setting", "repository", "task", "pair", "repeat", "outcome", "attribution", "merge", "cost", "steps", "messages", "wall (s)"].map((c, i) => h("th", { class: i >= 9 ? "num" : null, text: c })))),
      tbody
    );
    const rowEl = (r) =>
      h(
        "tr",
        { class: "pair-row", "data-run": r.run, "data-outcome": r.outcome, "data-repo": r.repo },
        h("td", { text: r.run }),
        h("td", { text: r.setting }),
        h("td", { text: r.repo }),
        h("td", { text: String(r.task_id) }),
        h("td", {}, h("a", { href: pairHref(r.key), text: r.pair })),
        h("td", { text: r.repeat === null ? "" : String(r.repeat) }),
        h("td", {}, badge(r.outcome)),
        h("td", { text: r.attribution || "" }),
        h("td", { text: r.merge || "" }),
        h("td", { class: "num", text: money(r.cost) }),
        h("td", { class: "num", text: num(r.steps) }),
        h("td", { class: "num", text: num(r.messages) }),
        h("td", { class: "num", text: num(r.wall_s, 1) })
      );
    // Rows are drawn a page at a time: thousands of attempts stay quick on a laptop.
    const PAGE = 500;
    let limit = PAGE;
    let matching = [];
    function draw() {
      tbody.replaceChildren(...matching.slice(0, limit).map(rowEl));
      const shown = Math.min(limit, matching.length);
      document.getElementById("pair-count").textContent = `${matching.length} of ${CB.rows.length} attempts match · ${shown} shown`;
      more.hidden = matching.length <= limit;
      more.textContent = `show ${Math.min(PAGE, matching.length - limit)} more`;
    }
    function apply() {
      const want = {
        run: document.getElementById("filter-run").value,
        outcome: document.getElementById("filter-outcome").value,
        repo: document.getElementById("filter-repo").value,
        task: document.getElementById("filter-task").value,
      };
      const text = document.getElementById("filter-text").value.trim();
      matching = CB.rows.filter(
        (r) =>
          (!want.run || r.run === want.run) &&
          (!want.outcome || r.outcome === want.outcome) &&
          (!want.repo || r.repo === want.repo) &&
          (!want.task || `${r.repo}/${r.task_id}` === want.task) &&
          (!text || r.pair.includes(text))
      );
      limit = PAGE;
      draw();
    }
    more.addEventListener("click", () => {
      limit += PAGE;
      draw();
    });
    filters.addEventListener("input", apply);
    filters.addEventListener("change", apply);
    return { nodes: [filters, tbl, more], apply };
  }
  async function renderIndex() {
    app.append(h("h2", { text: "Runs" }), runsTable());
    if (CB.comparisons.length) app.append(h("h2", { text: "Comparisons (common pairs)" }), comparisonsTable());
    if (CB.groups.length) app.append(h("h2", { text: "Runs of the same configuration (mean ± 95% CI)" }), groupsTable());
    const pairs = pairsSection();
    app.append(h("h2", { text: "Pairs" }), ...pairs.nodes);
    pairs.apply();
  }

  // ---- run page ------------------------------------------------------------------------
  function rateTable(items, keys) {
    return table(
      [...keys.map((k) => col(k)), col("pairs", 1), col("attempts", 1), col("passed", 1), col("pass rate", 1), col("95% CI (Wilson)"), col("cost", 1)],
      items.map((g) => [...keys.map((k) => String(g[k])), num(g.pairs), num(g.attempts), num(g.passed), pct(g.pass_rate), ci(g.interval), money(g.cost)])
    );
  }
  function countsTable(counts, label, id) {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return table([col(label), col("count", 1), col("share", 1)], Object.entries(counts).map(([k, v]) => [k, num(v), pct(total ? v / total : 0)]), { id });
  }
  async function renderRun(label) {
    const r = runByLabel[label];
    if (!r) return notFound(`run ${label}`);
    const rows = CB.rows.filter((x) => x.run === label);
    app.append(h("h2", { text: `Run ${r.label}` }), h("p", { class: "muted", text: `${runConfig(r)} · backend ${r.config.backend || "–"} · scoring policy ${r.config.policy || "–"} · ${r.path}` }));
    const cards = h(
      "div",
      { class: "cards" },
      card("pass rate", pct(r.pass_rate.pass_rate), `${r.pass_rate.passed}/${r.pass_rate.counted} · 95% CI ${ci(r.pass_rate.interval)}`, { id: "pass-rate" }),
      r.pass_rate_excluding_infra
        ? card("pass rate excluding infra errors", pct(r.pass_rate_excluding_infra.pass_rate), `${r.pass_rate_excluding_infra.passed}/${r.pass_rate_excluding_infra.counted} · 95% CI ${ci(r.pass_rate_excluding_infra.interval)}`, { id: "pass-rate-excl-infra" })
        : null,
      card("pairs", num(r.pairs), r.attempts !== r.pairs ? `${r.attempts} attempts` : null),
      r.pending_eval ? card("not evaluated", num(r.pending_eval)) : null,
      card("cost", money(r.distributions.cost.total || 0), `${num(r.tokens.input_tokens)} in / ${num(r.tokens.output_tokens)} out tokens`),
      card("messages", num(r.messages.total), `${pct(r.attempts ? r.messages.pairs_with_messages / r.attempts : 0)} of attempts · ${num(r.messages.mean_per_pair, 2)} per pair`)
    );
    app.append(cards);
    const charts = h("div", { class: "charts" }, h("div", { class: "chart", id: "chart-outcomes" }), h("div", { class: "chart", id: "chart-attribution" }));
    app.append(h("h3", { text: "Outcomes and failure attribution" }), charts);
    app.append(h("div", { class: "charts" }, h("div", {}, countsTable(r.outcomes, "outcome", "outcomes")), Object.keys(r.attribution).length ? h("div", {}, countsTable(r.attribution, "attribution", "attribution")) : null, Object.keys(r.merge).length ? h("div", {}, countsTable(r.merge, "merge status", "merge")) : null));
    app.append(h("h3", { text: "Per repository" }), rateTable(r.by_repo, ["repo"]));
    app.append(h("h3", { text: "Per task" }), rateTable(r.by_task, ["repo", "task_id"]));
    app.append(h("h3", { text: "Cost, tokens, steps, wall time, messages (per attempt)" }), h("div", { class: "chart", id: "chart-distributions" }));
    app.append(
      table(
        [col("quantity"), col("total", 1), col("mean", 1), col("median", 1), col("p90", 1), col("max", 1)],
        Object.entries(r.distributions).map(([k, d]) => [k, num(d.total, 3), num(d.mean, 3), num(d.median, 3), num(d.p90, 3), num(d.max, 3)]),
        { id: "distributions" }
      )
    );
    const waits = [chart(document.getElementById("chart-outcomes"), "outcomes", { rows }), chart(document.getElementById("chart-distributions"), "distributions", { rows })];
    if (Object.keys(r.attribution).length) waits.push(chart(document.getElementById("chart-attribution"), "attribution", { rows }));
    if (r.repeats) waits.push(renderRepeats(r));
    await Promise.all(waits);
  }
  async function renderRepeats(r) {
    const rep = r.repeats;
    app.append(h("h3", { text: `Repeats (k = ${rep.k})` }));
    app.append(
      h(
        "div",
        { class: "cards" },
        card("mean pass rate over repeats", pct(rep.mean_pass_rate.estimate), `95% CI ${ci(rep.mean_pass_rate)} (t, ${rep.mean_pass_rate.n} repeats)`, { id: "repeat-mean" }),
        card("pairs with mixed results", pct(rep.flip.mixed_fraction), `${rep.flip.mixed_pairs} of ${rep.flip.pairs} pairs`, { id: "flip-mixed" }),
        card("flip rate between repeats", pct(rep.flip.pairwise_flip_rate), "chance two attempts of a pair disagree", { id: "flip-rate" })
      )
    );
    const ks = Object.keys(rep.pass_at_k);
    app.append(table([col("k"), col("pass@k", 1), col("pass^k", 1)], ks.map((k) => [k, pct(rep.pass_at_k[k]), pct(rep.pass_hat_k[k])]), { id: "pass-k" }));
    app.append(table([col("repeat"), col("passed", 1), col("pass rate", 1), col("95% CI (Wilson)")], rep.per_repeat.map((x) => [String(x.repeat), `${x.passed}/${x.counted}`, pct(x.pass_rate), ci(x.interval)]), { id: "per-repeat" }));
    app.append(
      table(
        [col("pair"), col("passes", 1), col("attempts")],
        rep.per_pair.map((p) => [p.pair_id, `${p.c}/${p.n}`, h("span", {}, p.keys.map((k, i) => [h("a", { href: pairHref(k), class: p.results[i] ? "pass" : "fail", text: p.results[i] ? "✓" : "✗" }), " "]))]),
        { id: "pass-counts" }
      )
    );
    const el = h("div", { class: "chart", id: "chart-pass-k" });
    app.append(el);
    const passk = ks.flatMap((k) => [
      { k: Number(k), metric: "pass@k", value: rep.pass_at_k[k] },
      { k: Number(k), metric: "pass^k", value: rep.pass_hat_k[k] },
    ]);
    await chart(el, "pass_k", { passk });
  }

  // ---- comparison page -----------------------------------------------------------------
  async function renderComparison(index) {
    const c = CB.comparisons[Number(index)];
    if (!c) return notFound(`comparison ${index}`);
    app.append(h("h2", { text: `${c.a} vs ${c.b}` }), h("p", { class: "muted", text: `A = ${c.a} (${c.a_setting || "–"}), B = ${c.b} (${c.b_setting || "–"}); ${c.common_pairs} common pairs (${c.only_in_a} only in A, ${c.only_in_b} only in B); infra errors on ${c.infra_error_pairs} of them count as not passed.` }));
    const d = c.difference;
    app.append(
      h(
        "div",
        { class: "cards" },
        card(`pass rate ${c.a}`, pct(c.rate_a), `95% CI ${ci(c.interval_a)}`, { id: "rate-a" }),
        card(`pass rate ${c.b}`, pct(c.rate_b), `95% CI ${ci(c.interval_b)}`, { id: "rate-b" }),
        card("difference A − B", d ? signedPct(d.estimate) : "–", d ? `95% CI [${signedPct(d.low)}, ${signedPct(d.high)}] (paired bootstrap, ${CB.meta.bootstrap.resamples} resamples, seed ${CB.meta.bootstrap.seed})` : null, { id: "difference" }),
        card("McNemar exact p", pval(c.mcnemar_p), `${c.table.a_only} vs ${c.table.b_only} discordant pairs`, { id: "mcnemar" }),
        card("retention A/B", c.retention === null ? "–" : c.retention.toFixed(3), c.conditional_retention === null ? null : `${pct(c.conditional_retention)} of B's passes also pass in A`, { id: "retention" }),
        card("cost ratio A/B", c.cost.ratio === null ? "–" : c.cost.ratio.toFixed(2) + "×", `${money(c.cost.a)} vs ${money(c.cost.b)}`, { id: "cost-ratio" })
      )
    );
    app.append(h("h3", { text: "Paired 2×2 table (first attempt of each pair)" }));
    const t = c.table;
    app.append(
      table(
        [col(""), col(`${c.b} passed`, 1), col(`${c.b} failed`, 1), col("total", 1)],
        [
          [`${c.a} passed`, num(t.both_pass), num(t.a_only), num(t.both_pass + t.a_only)],
          [`${c.a} failed`, num(t.b_only), num(t.both_fail), num(t.b_only + t.both_fail)],
          ["total", num(t.both_pass + t.b_only), num(t.a_only + t.both_fail), num(c.common_pairs)],
        ],
        { id: "paired-table" }
      )
    );
    app.append(h("h3", { text: "Per repository" }));
    app.append(
      table(
        [col("repository"), col("pairs", 1), col(c.a, 1), col(c.b, 1), col("A − B", 1), col("only A", 1), col("only B", 1)],
        c.by_repo.map((x) => [x.repo, num(x.pairs), pct(x.rate_a), pct(x.rate_b), signedPct(x.difference), num(x.a_only), num(x.b_only)]),
        { id: "compare-by-repo" }
      )
    );
    const el = h("div", { class: "chart", id: "chart-by-repo" });
    app.append(el);
    app.append(h("h3", { text: `Discordant pairs (${c.discordant.length})` }));
    app.append(
      table(
        [col("pair"), col("passed in"), col(`${c.a}`), col(`${c.b}`)],
        c.discordant.map((x) => {
          const cells = [x.pair_id, x.passed_in, h("a", { href: pairHref(x.a_key) }, badge(x.a_outcome), " ", x.a_attribution || ""), h("a", { href: pairHref(x.b_key) }, badge(x.b_outcome), " ", x.b_attribution || "")];
          cells.attrs = { class: "discordant" };
          return cells;
        }),
        { id: "discordant" }
      )
    );
    const byRepo = c.by_repo.flatMap((x) => [
      { repo: x.repo, run: c.a, rate: x.rate_a },
      { repo: x.repo, run: c.b, rate: x.rate_b },
    ]);
    await chart(el, "by_repo", { by_repo: byRepo });
  }

  // ---- pair page -----------------------------------------------------------------------
  const epoch = (iso) => (iso ? Date.parse(iso) / 1000 : null);
  function timelineData(detail) {
    const lanes = detail.agents.map((a) => a.id);
    const order = Object.fromEntries(lanes.map((l, i) => [l, i]));
    const withSteps = detail.agents.filter((a) => a.steps.length);
    const timed = withSteps.length > 0 && withSteps.every((a) => a.steps.every((s) => s.t !== null));
    const times = [];
    if (timed) {
      for (const a of withSteps) for (const s of a.steps) times.push(s.t);
      for (const m of detail.messages) if (m.sent_at) times.push(epoch(m.sent_at));
    }
    const origin = times.length ? Math.min(...times) : 0;
    const steps = [];
    for (const a of detail.agents) {
      for (const s of a.steps) {
        steps.push({
          lane: a.id, order: order[a.id], i: s.i, kind: s.kind, label: s.text.slice(0, 200),
          x: timed ? s.t - origin : s.i,
          x_end: timed && s.t_end !== null ? s.t_end - origin : null,
        });
      }
      if (!a.steps.length) steps.push({ lane: a.id, order: order[a.id], i: 0, kind: "command", label: "(no steps recorded)", x: 0, x_end: null });
    }
    // A message is drawn from its sender's step to the receiver's step that read it (the ledger's
    // steps); its sent/delivered times stand in where the trajectory has no such step.
    const stepTime = {};
    for (const a of detail.agents) stepTime[a.id] = Object.fromEntries(a.steps.map((s) => [s.i, s.t]));
    const at = (lane, step, iso) => {
      const t = step === null || step === undefined ? undefined : stepTime[lane][step];
      if (t !== undefined && t !== null) return t - origin;
      return iso ? epoch(iso) - origin : null;
    };
    const messages = [];
    for (const m of detail.messages) {
      if (!(m.from in order) || !(m.to in order)) continue;
      const x = timed ? at(m.from, m.sender_step, m.sent_at) : m.sender_step;
      const x2 = timed ? at(m.to, m.receiver_step, m.delivered_at) : m.receiver_step;
      if (x === null || x === undefined || x2 === null || x2 === undefined) continue;
      messages.push({ id: m.id, from_lane: m.from, to_lane: m.to, order: order[m.from], x, x2, label: String(m.text).slice(0, 200) });
    }
    return { timed, origin, steps, messages };
  }
  function eventsTable(detail, data) {
    const events = [];
    for (const a of detail.agents) for (const s of a.steps) events.push({ x: data.timed ? s.t - data.origin : s.i, agent: a.id, what: `step ${s.i} · ${s.kind}`, text: s.text, out: s.out, rc: s.rc, cls: "step" });
    for (const m of detail.messages) {
      const x = data.timed ? epoch(m.sent_at) - data.origin : m.sender_step;
      events.push({ x: x ?? 0, agent: m.from, what: `message ${m.id} → ${m.to} (sent at step ${m.sender_step ?? "–"}, read at step ${m.receiver_step ?? "never"})`, text: m.text, out: "", rc: null, cls: "message" });
    }
    for (const n of detail.notices || []) {
      const x = data.timed && n.sent_at ? epoch(n.sent_at) - data.origin : null;
      if (x === null) continue;  // a notice is placed by its time; without times there is no step to put it at
      events.push({ x, agent: n.to || n.from, what: `${n.kind} from ${n.from}`, text: n.text, out: "", rc: null, cls: "notice" });
    }
    events.sort((p, q) => p.x - q.x);
    return table(
      [col(data.timed ? "t (s)" : "step", 1), col("agent"), col("event"), col("command / text")],
      events.map((e) => {
        const body = h("td", { class: "text" }, h("pre", { class: "wrap", text: e.text }), e.out ? h("details", {}, h("summary", { text: `output${e.rc === null ? "" : ` (exit ${e.rc})`}` }), h("pre", { class: "wrap", text: e.out })) : null);
        const cells = [data.timed ? num(e.x, 2) : String(e.x), e.agent, e.what, body];
        cells.attrs = { class: "event " + e.cls };
        return cells;
      }),
      { id: "events", class: "events" }
    );
  }
  function featureTests(ev) {
    return ev.features.map((f) =>
      h(
        "div",
        { class: "agent feature-result", "data-feature": String(f.feature_id) },
        h("h4", {}, `feature ${f.feature_id}: `, h("span", { class: f.passed ? "pass" : "fail", text: f.passed ? "passed" : "failed" })),
        h("div", { class: "muted", text: `${f.tests_passed ?? "–"} passed, ${f.tests_failed ?? "–"} failed, ${f.tests_skipped ?? 0} skipped · exit ${f.exit_code ?? "–"}${f.timed_out ? " · timed out" : ""}` }),
        f.failing_tests.length ? h("ul", { class: "failing-tests" }, f.failing_tests.map((t) => h("li", { text: t }))) : null,
        h("details", {}, h("summary", { text: "test output (tail)" }), h("pre", { class: "wrap", text: f.output_tail }))
      )
    );
  }
  async function renderPair(key) {
    const row = rowByKey[key];
    const detail = await pairDetail(key);
    if (!row || !detail) return notFound(`pair ${key}`);
    const ev = detail.evaluation;
    app.append(h("h2", {}, `${row.repo} / task ${row.task_id} / ${row.pair}`, row.repeat !== null ? ` / repeat ${row.repeat}` : ""));
    const others = CB.rows.filter((x) => x.pair_id === row.pair_id && x.key !== key);
    app.append(
      h("p", {}, h("a", { href: runHref(row.run), text: `run ${row.run}` }), ` · ${row.setting} · features ${row.features.join(", ")} · `, badge(row.outcome), row.attribution ? ` · attribution: ${row.attribution}` : "", ev && ev.policy ? ` · scoring policy ${ev.policy}` : ""),
      ...(others.length ? [h("p", { class: "muted", id: "same-pair" }, "same pair elsewhere: ", others.map((o) => [h("a", { href: pairHref(o.key), text: `${o.run}${o.repeat !== null ? " #" + o.repeat : ""}` }), " (", o.outcome, ") "]))] : [])
    );
    if (detail.error) app.append(h("p", { class: "error", text: `error: ${detail.error}` }));
    app.append(
      h(
        "div",
        { class: "cards" },
        card("outcome", row.outcome, row.attribution, { id: "pair-outcome" }),
        card("cost", money(row.cost), `${num(row.input_tokens)} in / ${num(row.output_tokens)} out tokens`),
        card("steps", num(row.steps)),
        card("messages", num(row.messages), null, { id: "pair-messages" }),
        card("agents' wall time", num(row.wall_s, 1) + " s", ev ? `evaluation ${num(row.eval_s, 1)} s` : null)
      )
    );
    const data = timelineData(detail);
    app.append(h("h3", { text: `Timeline (${data.timed ? "wall time" : "steps"}; one lane per agent; dashed lines are messages, from sending to reading)` }));
    const el = h("div", { class: "chart wide", id: "chart-timeline" });
    app.append(el);
    const wait = chart(el, data.timed ? "timeline_time" : "timeline_steps", { steps: data.steps, messages: data.messages }, (spec) => {
      spec.height = Math.max(100, 60 * detail.agents.length);
    });
    app.append(h("h3", { text: "Events" }), eventsTable(detail, data));
    if (detail.messages.length) {
      app.append(h("h3", { text: `Messages (${detail.messages.length}, from the harness's ledger)` }));
      app.append(
        table(
          [col("id", 1), col("from"), col("to"), col("sent step", 1), col("read step", 1), col("sent at"), col("delivered at"), col("text")],
          detail.messages.map((m) => {
            const cells = [num(m.id), m.from, m.to, m.sender_step ?? "–", m.receiver_step ?? "never", m.sent_at || "–", m.delivered_at || "–", h("pre", { class: "wrap", text: m.text })];
            cells.attrs = { class: "message" };
            return cells;
          }),
          { id: "messages" }
        )
      );
    }
    app.append(h("h3", { text: "Agents" }));
    app.append(
      h(
        "div",
        { class: "lanes" },
        detail.agents.map((a) =>
          h(
            "div",
            { class: "agent", "data-agent": a.id },
            h("h4", { text: `${a.id} — feature${(a.features || []).length === 1 ? "" : "s"} ${(a.features || []).join(", ") || "–"}` }),
            h("div", { class: "muted", text: `status ${a.status || "–"} · ${num(a.steps_count)} steps · ${money(a.cost)} · ${num(a.duration_s, 1)} s · ${num(a.sent_messages)} messages sent` }),
            a.error ? h("pre", { class: "wrap error", text: a.error }) : null,
            a.patch === null ? h("p", { class: "muted", text: "no patch file" }) : a.patch === "" ? h("p", { class: "muted", text: "empty patch" }) : diffView(a.patch)
          )
        )
      )
    );
    if (ev) {
      app.append(h("h3", { text: "Merge" }));
      const m = ev.merge;
      app.append(
        h(
          "p",
          { id: "merge-result" },
          m ? `status ${m.status} · strategy ${m.strategy || "–"}${m.union_status ? " · union merge " + m.union_status : ""}${m.conflict_files && m.conflict_files.length ? " · conflicts in " + m.conflict_files.join(", ") : ""}` : "no merge (solo)",
          ev.apply_status ? ` · apply: ${Object.entries(ev.apply_status).map(([k, v]) => `${k} ${v}`).join(", ")}` : ""
        )
      );
      if (m && m.diff) app.append(h("details", {}, h("summary", { text: "merged diff" }), diffView(m.diff)));
      if (ev.error) app.append(h("p", { class: "error", text: `evaluation error: ${ev.error}` }));
      app.append(h("h3", { text: "Tests" }), h("div", { class: "lanes" }, featureTests(ev)));
      if (ev.attribution) {
        app.append(h("h3", { text: `Attribution: ${ev.attribution.category || "none"}` }));
        app.append(
          table(
            [col("agent"), col("feature"), col("apply"), col("passes on the merge"), col("passes alone")],
            Object.entries(ev.attribution.agents).map(([k, v]) => [k, String(v.feature_id ?? "–"), v.apply_status || "–", String(v.merged_passed ?? "–"), String(v.alone_passed ?? "not run")]),
            { id: "attribution-agents" }
          )
        );
      }
    } else {
      app.append(h("p", { class: "muted", text: "not evaluated" }));
    }
    await wait;
  }

  function notFound(what) {
    app.append(h("h2", { text: "Not found" }), h("p", { text: `${what} is not in this report.` }));
  }

  // ---- routing -------------------------------------------------------------------------
  async function route() {
    document.body.removeAttribute("data-ready");
    app.replaceChildren();
    const hash = location.hash || "#/";
    let kind = "index";
    try {
      if (hash.startsWith("#/run/")) {
        kind = "run";
        await renderRun(decodeURIComponent(hash.slice(6)));
      } else if (hash.startsWith("#/compare/")) {
        kind = "comparison";
        await renderComparison(decodeURIComponent(hash.slice(10)));
      } else if (hash.startsWith("#/pair/")) {
        kind = "pair";
        await renderPair(decodeURIComponent(hash.slice(7)));
      } else {
        await renderIndex();
      }
    } finally {
      window.scrollTo(0, 0);
      document.body.dataset.ready = kind;
    }
  }
  const foot = document.getElementById("versions");
  foot.textContent = `generated ${CB.meta.generated_at} · ` + Object.entries(CB.meta.versions).map(([k, v]) => `${k} ${v}`).join(" · ");
  window.addEventListener("hashchange", route);
  route();
})();
