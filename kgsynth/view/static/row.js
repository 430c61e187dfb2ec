// The row page's graph: the row's KG paths and its options' evidence hops, drawn with the
// vendored cytoscape and coloured by role. Hovering a hop, a path or an entity in the text
// highlights it in the graph. Every label is set as data (drawn on a canvas) or as
// textContent: the row's text never becomes HTML here.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var container = document.getElementById("graph");
  var info = document.getElementById("graph-info");
  var COLORS = {
    answer: "#1a7f37",
    finding: "#0969da",
    distractor: "#cf222e",
    intermediate: "#8c959f"
  };

  var elements = [];
  data.nodes.forEach(function (n) {
    elements.push({ group: "nodes", data: { id: n.id, label: n.label, role: n.role } });
  });
  data.edges.forEach(function (e) {
    var classes = [];
    if (e.kinds.indexOf("path") >= 0) classes.push("path");
    if (e.kinds.indexOf("contradiction") >= 0) classes.push("contradiction");
    if (e.distractor_only) classes.push("distractor-only");
    elements.push({
      group: "edges",
      data: {
        id: e.id, source: e.source, target: e.target, relation: e.relation,
        kinds: e.kinds.join(" "), on: e.on.join(", ")
      },
      classes: classes.join(" ")
    });
  });

  var style = [
    {
      selector: "node",
      style: {
        "label": "data(label)", "font-size": 11, "color": "#1f2328",
        "text-valign": "bottom", "text-margin-y": 3, "text-wrap": "wrap",
        "text-max-width": 140, "width": 16, "height": 16, "border-width": 1,
        "border-color": "#ffffff"
      }
    },
    {
      selector: "edge",
      style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5,
        "line-color": "#c4c9cf", "target-arrow-color": "#c4c9cf",
        "font-size": 9, "color": "#57606a",
        "text-rotation": "autorotate", "text-background-color": "#ffffff",
        "text-background-opacity": 0.8
      }
    },
    // the row's own paths carry their relation; evidence hops show it on hover or tap
    {
      selector: "edge.path, edge.hl",
      style: { "label": "data(relation)" }
    },
    { selector: "edge.path", style: { "width": 3, "line-color": "#57606a", "target-arrow-color": "#57606a" } },
    { selector: "edge.contradiction", style: { "line-style": "dashed" } },
    { selector: "node.hl", style: { "border-width": 4, "border-color": "#bf8700" } },
    { selector: "edge.hl", style: { "line-color": "#bf8700", "target-arrow-color": "#bf8700", "width": 5, "z-index": 10 } },
    { selector: ".hidden", style: { "display": "none" } }
  ];
  Object.keys(COLORS).forEach(function (role) {
    style.push({ selector: 'node[role = "' + role + '"]', style: { "background-color": COLORS[role] } });
  });
  style.push({ selector: 'node[role = "answer"]', style: { "width": 24, "height": 24, "font-weight": "bold" } });

  var cy = cytoscape({
    container: container,
    elements: elements,
    style: style,
    layout: { name: "preset" }
  });

  // Columns, read left to right as the reasoning goes: the question's findings, the nodes
  // between (by hops from the nearest finding), then the options (answer and distractors).
  // Within a column nodes sit near the mean height of their neighbours to the left.
  // Deterministic: the same picture on every load.
  function isOption(n) {
    return n.data("role") === "answer" || n.data("role") === "distractor";
  }
  function layered() {
    var col = {};
    var queue = [];
    cy.nodes().forEach(function (n) {
      if (n.data("role") === "finding") {
        col[n.id()] = 0;
        queue.push(n);
      }
    });
    while (queue.length) {
      var n = queue.shift();
      n.neighborhood("node").forEach(function (m) {
        if (!(m.id() in col) && !isOption(m)) {
          col[m.id()] = col[n.id()] + 1;
          queue.push(m);
        }
      });
    }
    var last = 1;
    cy.nodes().forEach(function (n) {
      if (!isOption(n) && !(n.id() in col)) col[n.id()] = 1;  // reached from no finding
      if (!isOption(n)) last = Math.max(last, col[n.id()] + 1);
    });
    cy.nodes().forEach(function (n) {
      if (isOption(n)) col[n.id()] = last;
    });
    var columns = [];
    cy.nodes().forEach(function (n) {
      (columns[col[n.id()]] = columns[col[n.id()]] || []).push(n);
    });
    var y = {};
    var DX = 210, DY = 58;
    columns.forEach(function (nodes, c) {
      if (!nodes) return;
      var key = function (n) {
        var ys = n.neighborhood("node").filter(function (m) {
          return col[m.id()] < c && m.id() in y;
        }).map(function (m) { return y[m.id()]; });
        return ys.length ? ys.reduce(function (a, b) { return a + b; }, 0) / ys.length : 0;
      };
      var keyed = nodes.map(function (n, i) { return { n: n, k: c ? key(n) : i, i: i }; });
      keyed.sort(function (a, b) { return a.k - b.k || a.i - b.i; });
      keyed.forEach(function (e, i) {
        y[e.n.id()] = (i - (keyed.length - 1) / 2) * DY;
        e.n.position({ x: c * DX, y: y[e.n.id()] });
      });
    });
  }
  layered();
  cy.fit(undefined, 24);
  container.dataset.ready = "1";

  function byId(id) {
    return cy.getElementById(id);
  }

  function highlight(ids, on) {
    ids.forEach(function (id) {
      var el = byId(id);
      if (el.empty()) return;
      var group = el.isEdge() ? el.union(el.connectedNodes()) : el;
      if (on) group.addClass("hl"); else group.removeClass("hl");
    });
  }

  function idsOf(el) {
    if (el.dataset.edge) return [el.dataset.edge];
    if (el.dataset.edges) return el.dataset.edges.split(" ").filter(Boolean);
    if (el.dataset.node) return [el.dataset.node];
    return [];
  }

  cy.on("mouseover", "edge", function (evt) { evt.target.addClass("hl"); });
  cy.on("mouseout", "edge", function (evt) { evt.target.removeClass("hl"); });

  document.querySelectorAll("[data-edge], [data-edges], [data-node]").forEach(function (el) {
    el.addEventListener("mouseenter", function () { highlight(idsOf(el), true); });
    el.addEventListener("mouseleave", function () { highlight(idsOf(el), false); });
  });

  cy.on("tap", "node", function (evt) {
    var n = evt.target;
    info.textContent = n.data("label") + " (" + n.id() + ") · " + n.data("role") +
      " · " + n.degree() + " hop" + (n.degree() === 1 ? "" : "s");
  });
  cy.on("tap", "edge", function (evt) {
    var e = evt.target;
    info.textContent = e.source().data("label") + " -[" + e.data("relation") + "]-> " +
      e.target().data("label") + " · " + e.data("kinds") + " · " + e.data("on");
  });

  var toggle = document.getElementById("show-distractors");
  toggle.addEventListener("change", function () {
    cy.batch(function () {
      cy.edges(".distractor-only").toggleClass("hidden", !toggle.checked);
      cy.nodes().forEach(function (n) {
        var role = n.data("role");
        var lonely = n.connectedEdges().filter(function (e) { return !e.hasClass("hidden"); }).empty();
        var hide = !toggle.checked && lonely && role !== "answer" && role !== "finding";
        n.toggleClass("hidden", hide);
      });
    });
  });

  window.kgsynthGraph = cy;  // for the tests and the browser console
})();
