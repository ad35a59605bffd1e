// The job page stays live: poll the job's updates, add milestones, redraw the learning
// curve, and reload the page when the status changes (to show approvals and results).
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root) return;
  const job = root.dataset.job;
  let after = Number(root.dataset.after || 0);
  let status = root.dataset.status;
  let drawn = -1;

  function el(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw(curve) {
    const points = (curve && curve.points) || [];
    if (points.length === drawn) return;
    drawn = points.length;
    const svg = document.getElementById("curve");
    const note = document.getElementById("curve-note");
    if (curve && curve.metric) document.getElementById("metric-name").textContent = curve.metric;
    note.textContent = curve && curve.source === "tracked" ? "every epoch, from MLflow" : "live";
    svg.replaceChildren();
    if (points.length === 0) {
      svg.append(el("text", {x: 320, y: 120, "text-anchor": "middle", class: "muted"}, "no epochs yet"));
      return;
    }
    const W = 640, H = 240, L = 52, R = 60, T = 12, B = 28;
    const fmt = (v) => String(Number(v.toPrecision(3)));
    const epochs = points.map((p) => p[0]);
    const x0 = Math.min(...epochs), x1 = Math.max(...epochs, x0 + 1);
    const x = (e) => L + ((e - x0) / (x1 - x0)) * (W - L - R);
    function series(index, cls, side) {
      const values = points.filter((p) => p[index] !== null && p[index] !== undefined);
      if (values.length === 0) return;
      let lo = Math.min(...values.map((p) => p[index])), hi = Math.max(...values.map((p) => p[index]));
      if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
      const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
      const d = values.map((p) => `${x(p[0]).toFixed(1)},${y(p[index]).toFixed(1)}`).join(" ");
      svg.append(el("polyline", {points: d, class: `line ${cls}`}));
      if (values.length === 1) svg.append(el("circle", {cx: x(values[0][0]), cy: y(values[0][index]), r: 3, class: `dot ${cls}`}));
      const ax = side === "left" ? L - 6 : W - R + 6, anchor = side === "left" ? "end" : "start";
      svg.append(el("text", {x: ax, y: T + 4, "text-anchor": anchor, class: `tick ${cls}`}, fmt(hi)));
      svg.append(el("text", {x: ax, y: H - B, "text-anchor": anchor, class: `tick ${cls}`}, fmt(lo)));
    }
    svg.append(el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"}));
    svg.append(el("text", {x: L, y: H - 8, class: "tick"}, `epoch ${x0}`));
    svg.append(el("text", {x: W - R, y: H - 8, "text-anchor": "end", class: "tick"}, `${x1}`));
    series(2, "loss", "right");
    series(1, "score", "left");
  }

  async function poll() {
    let data;
    try {
      const response = await fetch(`/ui/jobs/${encodeURIComponent(job)}/updates?after=${after}`,
                                   {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (!response.ok) throw new Error(String(response.status));
      data = await response.json();
    } catch (err) {
      setTimeout(poll, 3000);
      return;
    }
    const list = document.getElementById("events");
    for (const e of data.events) {
      const li = document.createElement("li");
      const stage = document.createElement("span");
      stage.className = "stage";
      stage.textContent = e.stage.replace("_", " ");
      li.append(stage, " " + e.message);
      list.append(li);
    }
    after = data.after;
    if (data.latest) document.getElementById("latest").textContent = data.latest;
    document.getElementById("eta").textContent =
      data.eta_s !== null && !data.ended ? `about ${Math.round(data.eta_s)} s to go` : "";
    draw(data.curve);
    if (data.status !== status) {
      window.location.reload();
      return;
    }
    if (!data.ended) setTimeout(poll, 1000);
  }

  poll();
})();
