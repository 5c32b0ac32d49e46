// The dashboard's page script (served from /dashboard/static: the Content-Security-Policy admits no
// inline script). It draws the usage plots with uPlot from /dashboard/usage.json, redraws them when
// the window or grouping changes and every 15 s; htmx (loaded beside it) does the rest.
"use strict";

(function () {
  document.documentElement.classList.add("js");

  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#6b7280"];
  const REFRESH_MS = 15000;
  const state = { plots: {}, groups: null, series: null, loads: 0, errors: 0 };
  window.claudegateDashboard = state;

  function number(value) {
    if (value === null || value === undefined) return "—";
    if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString();
    return Math.abs(value) >= 1 ? value.toFixed(2) : Number(value.toPrecision(2)).toString();
  }

  function options(metric, groups, width) {
    return {
      width: width,
      height: 200,
      scales: { x: { time: true } },
      axes: [{}, { size: 64, values: (u, ticks) => ticks.map(number) }],
      series: [{}].concat(groups.map((group, index) => ({
        label: group,
        stroke: PALETTE[index % PALETTE.length],
        width: 2,
        spanGaps: metric.indexOf("latency") === 0,
        points: { show: true, size: 5 },
        value: (u, value) => number(value),
      }))),
    };
  }

  function totals(series) {
    for (const cell of document.querySelectorAll("[data-total]")) {
      const value = series.totals[cell.dataset.total];
      cell.textContent = cell.dataset.total === "cost_usd" ? "$" + value.toFixed(4) : number(value);
    }
  }

  function draw(section, series) {
    const sameGroups = state.groups !== null && state.groups.join("\u0000") === series.groups.join("\u0000");
    for (const figure of section.querySelectorAll("figure[data-metric]")) {
      const metric = figure.dataset.metric;
      const data = [series.times].concat(series.values[metric] || []);
      const existing = state.plots[metric];
      if (existing && sameGroups) {
        existing.setData(data);
        continue;
      }
      if (existing) existing.destroy();
      const chart = figure.querySelector(".chart");
      state.plots[metric] = new window.uPlot(options(metric, series.groups, chart.clientWidth || 480), data, chart);
    }
    state.groups = series.groups.slice();
    state.series = series;
    const empty = document.getElementById("plots-empty");
    if (empty) empty.hidden = series.groups.length > 0;
    totals(series);
  }

  async function load(section) {
    const url = new URL(section.dataset.seriesUrl, window.location.href);
    url.searchParams.set("window", section.dataset.window);
    url.searchParams.set("group_by", section.dataset.groupBy);
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) {
      window.location.assign("/dashboard/login");
      return;
    }
    if (!response.ok) {
      state.errors += 1;
      return;
    }
    draw(section, await response.json());
    state.loads += 1;
  }

  function plots() {
    const section = document.getElementById("plots");
    if (!section || typeof window.uPlot !== "function") return;
    const form = document.getElementById("series-form");
    if (form) {
      form.addEventListener("change", () => {
        section.dataset.window = form.elements.window.value;
        section.dataset.groupBy = form.elements.group_by.value;
        const query = new URLSearchParams({ window: section.dataset.window, group_by: section.dataset.groupBy });
        window.history.replaceState(null, "", "/dashboard?" + query.toString());
        load(section);
      });
    }
    window.addEventListener("resize", () => {
      for (const plot of Object.values(state.plots)) {
        plot.setSize({ width: plot.root.parentElement.clientWidth || 480, height: 200 });
      }
    });
    load(section);
    window.setInterval(() => load(section), REFRESH_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", plots);
  } else {
    plots();
  }
})();
