/* masksmith journal viewer: plain JavaScript, no libraries, nothing fetched from the network. */
(function () {
  "use strict";

  var state = { ready: false, timings: { scriptStart: performance.now() }, selected: null, scale: 1 };
  window.masksmithViewer = state;

  var data = JSON.parse(document.getElementById("journal-data").textContent);
  var svg = document.getElementById("graph-svg");
  var scroller = document.getElementById("graph-scroll");
  var heading = document.getElementById("details-heading");
  var body = document.getElementById("details-body");
  var edgesById = {};
  data.edges.forEach(function (e) { edgesById[e.id] = e; });

  // ---- small DOM helpers -------------------------------------------------------------------------
  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === null || value === undefined || value === false) { return; }
        if (key === "text") { node.textContent = value; }
        else if (key === "className") { node.className = value; }
        else if (key === "onclick") { node.addEventListener("click", value); }
        else if (key === "onchange") { node.addEventListener("change", value); }
        else { node.setAttribute(key, value === true ? "" : String(value)); }
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function compact(value) {
    if (Array.isArray(value)) { return "[" + value.map(compact).join(", ") + "]"; }
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).map(function (k) { return k + ": " + compact(value[k]); }).join(", ") + "}";
    }
    return typeof value === "string" ? JSON.stringify(value) : String(value);
  }

  // A transform matrix as the Journaling Tool stores it: {"r": 3, "c": 3, "r0": [..], "r1": [..], ...}.
  function matrixRows(value) {
    if (!value || typeof value !== "object" || Array.isArray(value)) { return null; }
    var rows = Number(value.r), cols = Number(value.c);
    if (!(rows > 0 && cols > 0)) { return null; }
    var out = [];
    for (var i = 0; i < rows; i++) {
      var row = value["r" + i];
      if (!Array.isArray(row) || row.length !== cols) { return null; }
      out.push(row);
    }
    return out;
  }

  function matrixTable(rows) {
    return el("table", { className: "matrix", "aria-label": rows.length + " by " + rows[0].length + " matrix" },
      [el("tbody", null, rows.map(function (row) {
        return el("tr", null, row.map(function (v) {
          var n = Number(v);
          return el("td", { text: isFinite(n) ? String(Math.round(n * 10000) / 10000) : String(v) });
        }));
      }))]);
  }

  // Plain values as text, lists inline, matrices as a small table, objects as a nested table one level deep.
  function formatValue(value, nested) {
    if (value === null || value === undefined || value === "") { return el("span", { className: "muted", text: "—" }); }
    if (typeof value !== "object") { return document.createTextNode(String(value)); }
    var matrix = matrixRows(value);
    if (matrix) { return matrixTable(matrix); }
    if (Array.isArray(value)) {
      return document.createTextNode(value.length ? value.map(function (v) {
        return typeof v === "object" && v !== null ? compact(v) : String(v);
      }).join(", ") : "[]");
    }
    var keys = Object.keys(value);
    if (nested || !keys.length) { return el("code", { className: "json", text: compact(value) }); }
    return el("table", { className: "attrs nested" }, [el("tbody", null, keys.map(function (key) {
      return el("tr", null, [el("th", { scope: "row", text: key }), el("td", null, [formatValue(value[key], true)])]);
    }))]);
  }

  function attributeTable(caption, object, id) {
    var keys = Object.keys(object || {});
    if (!keys.length) { return el("p", { className: "muted", text: caption + ": none" }); }
    keys.sort();
    var rows = keys.map(function (key) {
      return el("tr", null, [el("th", { scope: "row", text: key }), el("td", null, [formatValue(object[key], false)])]);
    });
    return el("table", { className: "attrs", id: id || null }, [el("caption", { text: caption }), el("tbody", null, rows)]);
  }

  function chip(text, colour, dashed) {
    return el("span", { className: "chip" + (dashed ? " dashed" : ""), style: "--chip: " + colour, text: text });
  }

  function nodeButton(id) {
    var node = data.nodes[id];
    return el("button", {
      type: "button", className: "link-button", "data-goto-node": id,
      "aria-label": "Show node " + id, onclick: function () { select("node", id, true); }
    }, [id + (node ? " (" + node.type + ")" : "")]);
  }

  function edgeButton(edge) {
    return el("button", {
      type: "button", className: "link-button", "data-goto-edge": edge.id,
      "aria-label": "Show operation " + edge.op + " from " + edge.source + " to " + edge.target,
      onclick: function () { select("edge", edge.id, true); }
    }, [edge.op + ": " + edge.source + " → " + edge.target]);
  }

  // An image with an optional overlay stacked on it and a checkbox that shows or hides the overlay.
  function mediaFigure(opts) {
    var node = data.nodes[opts.node] || {};
    var figure = el("figure", { className: "media" + (opts.className ? " " + opts.className : "") });
    if (!node.image) {
      figure.appendChild(el("div", { className: "placeholder", role: "img", "aria-label": "No image", text: node.problem || "no image" }));
    } else {
      var stage = el("div", { className: "stage" + (node.width && node.width < 360 ? " small" : "") }, [
        el("img", { src: node.image, alt: opts.alt || ("Image of node " + opts.node), width: node.width, height: node.height, decoding: "async" })
      ]);
      if (opts.overlay) {
        var overlay = el("img", { src: opts.overlay, alt: "", className: "overlay", id: opts.overlayId || null, "aria-hidden": "true", width: node.width, height: node.height });
        stage.appendChild(overlay);
      }
      figure.appendChild(el("a", { href: node.image, target: "_blank", rel: "noopener", title: "Open full size", className: "stage-link" }, [stage]));
    }
    figure.appendChild(el("figcaption", null, [opts.caption || opts.node]));
    if (opts.overlay && node.image) {
      var toggleId = opts.toggleId || ("toggle-" + Math.random().toString(36).slice(2));
      var target = figure.querySelector(".overlay");
      var box = el("input", { type: "checkbox", id: toggleId, checked: true, onchange: function () { target.hidden = !box.checked; } });
      box.checked = true;
      figure.appendChild(el("label", { className: "toggle", "for": toggleId }, [box, " " + (opts.toggleLabel || "Show mask")]));
    }
    return figure;
  }

  function setDetails(title, children) {
    heading.textContent = title;
    body.textContent = "";
    children.forEach(function (child) { if (child) { body.appendChild(child); } });
  }

  // ---- validation findings -------------------------------------------------------------------------
  var findings = data.findings || [];
  function findingLevel(f) {
    return f.severity === "ERROR" || f.severity === "CRITICAL" ? "error" : (f.severity === "WARNING" ? "warning" : "info");
  }
  function findingsFor(kind, id) {
    return findings.filter(function (f) {
      if (kind === "edge") { return f.start && f.end && f.start + "->" + f.end === id; }
      if (kind === "node") { return (f.start === id && !f.end) || (f.end === id && !f.start); }
      return !f.start && !f.end;
    });
  }
  function findingItem(f, withWhere) {
    var where = null;
    if (withWhere && f.start && f.end && edgesById[f.start + "->" + f.end]) { where = edgeButton(edgesById[f.start + "->" + f.end]); }
    else if (withWhere && (f.start || f.end) && data.nodes[f.start || f.end]) { where = nodeButton(f.start || f.end); }
    else if (withWhere) { where = el("span", { className: "muted", text: "journal" }); }
    return el("li", { className: "finding finding-" + findingLevel(f), "data-severity": f.severity }, [
      el("span", { className: "severity", text: f.severity }), " ",
      where, where ? ": " : null, f.message,
      f.rule ? el("span", { className: "muted rule", text: " (" + f.rule + ")" }) : null
    ]);
  }
  function findingsSection(list, id, title, withWhere) {
    if (!list.length) { return null; }
    return el("section", { className: "findings", id: id, "aria-label": title }, [
      el("h3", { text: title }),
      el("ul", { className: "finding-list" }, list.map(function (f) { return findingItem(f, withWhere); }))
    ]);
  }
  function markFindings() {
    if (!svg) { return; }
    findings.forEach(function (f) {
      var level = findingLevel(f);
      if (level === "info") { return; }
      var items = f.start && f.end ? graphElements("edge", f.start + "->" + f.end)
        : ((f.start || f.end) ? graphElements("node", f.start || f.end) : []);
      items.forEach(function (item) {
        if (!item.classList.contains("finding-error")) { item.classList.add("finding-" + level); }
        if (level === "error") { item.classList.remove("finding-warning"); }
      });
    });
  }

  // ---- views -------------------------------------------------------------------------------------
  function showSummary() {
    var probes = data.probes;
    var attrs = data.attributes || {};
    var children = [
      attrs.projectdescription ? el("p", { className: "description", text: attrs.projectdescription }) : null,
      el("p", { className: "muted", text: Object.keys(data.nodes).length + " nodes, " + data.edges.length +
        " operations. Select a node or an operation in the graph, or from the lists below." }),
      el("p", { id: "probe-status", className: "note", text: "Probes: " + probes.message }),
      el("p", { id: "validation-status", className: "note validation-" + (findings.some(function (f) { return findingLevel(f) === "error"; }) ? "error" : "ok"),
        text: "Validation: " + (data.findingsStatus || "not validated") }),
      findingsSection(findings, "journal-findings", "Validation findings", true)
    ];
    if (data.warnings.length) {
      children.push(el("ul", { className: "warnings", "aria-label": "Warnings" },
        data.warnings.map(function (w) { return el("li", { text: w }); })));
    }
    children.push(el("h3", { text: "Nodes" }));
    children.push(el("ul", { className: "link-list", id: "node-list" },
      Object.keys(data.nodes).map(function (id) { return el("li", null, [nodeButton(id)]); })));
    children.push(el("h3", { text: "Operations" }));
    children.push(el("ul", { className: "link-list", id: "edge-list" },
      data.edges.map(function (e) { return el("li", null, [edgeButton(e)]); })));
    children.push(el("details", null, [el("summary", { text: "Journal attributes" }),
      attributeTable("Journal attributes", attrs, "journal-attributes")]));
    setDetails("Journal " + data.name, children);
  }

  function showNode(id) {
    var node = data.nodes[id];
    var incoming = data.edges.filter(function (e) { return e.target === id; });
    var outgoing = data.edges.filter(function (e) { return e.source === id; });
    var children = [
      el("p", { className: "badges" }, [chip(node.type || "node", node.colour), " ", el("span", { className: "muted", text: node.file })]),
      findingsSection(findingsFor("node", id), "node-findings", "Validation findings", false),
      mediaFigure({ node: id, caption: node.file + (node.width ? " — shown at " + node.width + "×" + node.height : "") })
    ];
    if (incoming.length) {
      children.push(el("h3", { text: "Made by" }));
      children.push(el("ul", { className: "link-list" }, incoming.map(function (e) { return el("li", null, [edgeButton(e)]); })));
    }
    if (outgoing.length) {
      children.push(el("h3", { text: "Used by" }));
      children.push(el("ul", { className: "link-list" }, outgoing.map(function (e) { return el("li", null, [edgeButton(e)]); })));
    }
    if (node.final) { children.push(probeSection(id)); }
    children.push(attributeTable("Node attributes", node.attributes, "node-attributes"));
    setDetails("Node " + id, children);
  }

  function probeSection(id) {
    var section = el("section", { className: "probes", id: "probes", "aria-labelledby": "probes-heading" }, [
      el("h3", { id: "probes-heading", text: "Probes" })
    ]);
    var status = data.probes.status;
    var list = data.probes.byFinal[id] || [];
    if (status !== "ok") {
      section.appendChild(el("p", { className: "note", id: "probe-status", text: data.probes.message }));
      return section;
    }
    if (!list.length) {
      section.appendChild(el("p", { className: "note", id: "probe-status", text: "No probes end at this node." }));
      return section;
    }
    var ol = el("ol", { className: "probe-list" });
    list.forEach(function (probe, k) {
      var edge = probe.edge ? edgesById[probe.edge] : null;
      var label = (probe.op || "probe") + (probe.edge ? " (" + probe.edge.replace("->", " → ") + ")" : "");
      var item = el("li", { className: "probe", "data-probe-edge": probe.edge || "" }, [
        el("h4", null, [edge ? edgeButton(edge) : label]),
        probe.overlay
          ? mediaFigure({
            node: id, overlay: probe.overlay, overlayId: "probe-overlay-" + k, toggleId: "probe-toggle-" + k,
            toggleLabel: "Show probe mask", caption: "Target mask of " + label + " over the final image" +
              (probe.changed !== null ? " — " + probe.changed + " pixels" : "")
          })
          : el("p", { className: "muted", text: "This probe has no target mask." })
      ]);
      if (probe.donor && probe.donor_overlay && data.nodes[probe.donor]) {
        item.appendChild(mediaFigure({
          node: probe.donor, overlay: probe.donor_overlay, toggleId: "probe-donor-toggle-" + k,
          toggleLabel: "Show donor mask", caption: "Donor mask over donor base " + probe.donor
        }));
      }
      var details = el("details", null, [el("summary", { text: "Probe fields" }), attributeTable("Fields", probe.fields)]);
      item.appendChild(details);
      ol.appendChild(item);
    });
    section.appendChild(ol);
    return section;
  }

  // A video/audio link: its segments along the stream and sample frames of their masks.
  function timelineSection(timeline) {
    var rows = timeline.segments.map(function (s) {
      var label = s.type + " " + s.start + "–" + s.end + " (" + s.starttime + " – " + s.endtime + ")";
      var samples = s.samples.map(function (p) {
        return el("figure", { className: "timeline-sample" }, [
          p.image ? el("img", { src: p.image, alt: "frame " + p.frame }) : null,
          el("img", { className: "timeline-overlay", src: p.overlay, alt: "mask of frame " + p.frame }),
          el("figcaption", { text: "frame " + p.frame })
        ]);
      });
      return el("li", { className: "timeline-row" }, [
        el("div", { className: "timeline-track", role: "img", "aria-label": label + " of " + s.total }, [
          el("span", { className: "timeline-span timeline-" + s.type, style: "left:" + s.left + "%;width:" + s.width + "%" })
        ]),
        el("p", { text: label + (s.error ? " · error " + s.error.toFixed(2) + " ms" : "") }),
        s.problem ? el("strong", { className: "problem", text: s.problem }) : null,
        samples.length ? el("div", { className: "timeline-samples" }, samples) : null
      ]);
    });
    return el("section", { className: "timeline", "aria-label": "Segments" }, [
      el("h3", { text: "Segments (" + timeline.segments.length + ")" }),
      timeline.problem ? el("strong", { className: "problem", text: timeline.problem }) : null,
      el("ol", null, rows)
    ]);
  }

  function showEdge(id) {
    var edge = edgesById[id];
    var mask = edge.mask;
    var attrs = edge.attributes;
    var stats = [];
    if (attrs["change size ratio"] !== undefined) { stats.push((100 * Number(attrs["change size ratio"])).toFixed(2) + " % changed"); }
    if (attrs["empty mask"] !== undefined) { stats.push("empty mask: " + attrs["empty mask"]); }
    if (attrs["shape change"] !== undefined) { stats.push("shape change: " + attrs["shape change"]); }
    var children = [
      el("p", { className: "badges" }, [chip(edge.category, edge.colour, edge.donor), " ", nodeButton(edge.source), " → ", nodeButton(edge.target)]),
      edge.description ? el("p", { className: "description", text: edge.description }) : null,
      findingsSection(findingsFor("edge", id), "edge-findings", "Validation findings", false),
      el("div", { className: "side-by-side", role: "group", "aria-label": "Before and after" }, [
        mediaFigure({
          node: edge.source, overlay: mask.overlay, overlayId: "mask-overlay", toggleId: "mask-toggle",
          toggleLabel: "Show change mask", className: "before",
          alt: "Before: node " + edge.source, caption: "Before: " + edge.source + (mask.overlay ? " (change mask over it)" : "")
        }),
        mediaFigure({ node: edge.target, className: "after", alt: "After: node " + edge.target, caption: "After: " + edge.target })
      ]),
      el("p", { className: "mask-info", id: "mask-info" }, [
        mask.problem ? el("strong", { className: "problem", text: mask.problem + ". " }) : null,
        stats.join(" · "),
        mask.raw ? el("span", null, [" · ", el("a", { href: mask.raw, target: "_blank", rel: "noopener", text: "mask file" })]) : null
      ]),
      givenMasks(edge),
      edge.timeline ? timelineSection(edge.timeline) : null,
      attributeTable("Arguments", edge.arguments, "edge-arguments"),
      el("details", null, [el("summary", { text: "All edge attributes" }), attributeTable("Edge attributes", attrs, "edge-attributes")])
    ];
    setDetails("Operation " + edge.op, children);
  }

  // Input and substitute masks handed to the operation, shown as images (255 = selected).
  function givenMasks(edge) {
    var given = edge.given || [];
    if (!given.length) { return null; }
    return el("section", { className: "given-masks", id: "given-masks", "aria-label": "Masks given with the operation" }, [
      el("h3", { text: "Masks given with the operation" }),
      el("div", { className: "side-by-side" }, given.map(function (m, k) {
        return el("figure", { className: "media given-mask", "data-kind": m.kind }, [
          m.image
            ? el("a", { href: m.image, target: "_blank", rel: "noopener", className: "stage-link" },
              [el("img", { src: m.image, alt: m.kind + " " + m.file, id: "given-mask-" + k, decoding: "async" })])
            : el("div", { className: "placeholder", text: m.problem || "unreadable" }),
          el("figcaption", { text: m.kind + " (" + m.name + "): " + m.file })
        ]);
      }))
    ]);
  }

  // ---- selection -----------------------------------------------------------------------------------
  function graphElements(kind, id) {
    if (!svg) { return []; }
    var found = [];
    var selector = kind === "node" ? "g.node" : "path.edge, g.edge-label";
    svg.querySelectorAll(selector).forEach(function (item) {
      var key = kind === "node" ? item.getAttribute("data-node-id")
        : (item.getAttribute("data-edge") || item.getAttribute("data-edge-label"));
      if (key === id) { found.push(item); }
    });
    return found;
  }

  function select(kind, id, updateHash) {
    if (kind === "node" && !data.nodes[id]) { kind = null; }
    if (kind === "edge" && !edgesById[id]) { kind = null; }
    if (svg) {
      svg.querySelectorAll(".selected").forEach(function (item) { item.classList.remove("selected"); });
    }
    if (!kind) {
      state.selected = null;
      showSummary();
    } else {
      state.selected = { kind: kind, id: id };
      var items = graphElements(kind, id);
      items.forEach(function (item) { item.classList.add("selected"); });
      if (kind === "node") { showNode(id); } else { showEdge(id); }
      if (items.length && items[0].scrollIntoView && updateHash !== "initial") {
        items[0].scrollIntoView({ block: "nearest", inline: "nearest" });
      }
    }
    if (updateHash === true) {
      var hash = kind ? "#" + kind + "=" + encodeURIComponent(id) : "#";
      if (location.hash !== hash) { history.replaceState(null, "", hash); }
    }
  }

  function fromHash(mode) {
    var match = /^#(node|edge)=(.*)$/.exec(location.hash);
    if (match) { select(match[1], decodeURIComponent(match[2]), mode); } else { select(null, null, mode); }
  }

  function activate(item, handler) {
    item.addEventListener("click", function (event) { event.preventDefault(); handler(); });
    item.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); handler(); }
    });
  }

  function decorateGraph() {
    if (!svg) { return; }
    svg.querySelectorAll("g.node").forEach(function (g) {
      var id = g.getAttribute("data-node-id");
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "button");
      g.setAttribute("aria-label", "Node " + id + ", " + (g.getAttribute("data-nodetype") || "node"));
      activate(g, function () { select("node", id, true); });
    });
    svg.querySelectorAll("path.edge").forEach(function (path) {
      var id = path.getAttribute("data-edge");
      var hit = document.createElementNS("http://www.w3.org/2000/svg", "path");
      hit.setAttribute("d", path.getAttribute("d"));
      hit.setAttribute("class", "edge-hit");
      hit.setAttribute("data-edge-hit", id);
      hit.setAttribute("aria-hidden", "true");
      path.parentNode.insertBefore(hit, path);
      activate(hit, function () { select("edge", id, true); });
      activate(path, function () { select("edge", id, true); });
    });
    svg.querySelectorAll("g.edge-label").forEach(function (g) {
      var id = g.getAttribute("data-edge-label");
      var edge = edgesById[id];
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "button");
      g.setAttribute("aria-label", "Operation " + (edge ? edge.op : "") + " from " + id.replace("->", " to "));
      activate(g, function () { select("edge", id, true); });
    });
  }

  // ---- zoom ------------------------------------------------------------------------------------------
  var naturalWidth = svg ? parseFloat(svg.getAttribute("width")) || 800 : 800;
  var naturalHeight = svg ? parseFloat(svg.getAttribute("height")) || 600 : 600;
  function setScale(scale) {
    state.scale = Math.max(0.1, Math.min(3, scale));
    if (svg) {
      svg.style.width = Math.round(naturalWidth * state.scale) + "px";
      svg.style.height = "auto";
    }
  }
  // The pane's height is capped by CSS (max-height); fit the whole graph into its width and that height.
  function availableHeight() {
    var cap = parseFloat(getComputedStyle(scroller).maxHeight);
    var fromTop = window.innerHeight - scroller.getBoundingClientRect().top - 12;
    return Math.max(120, isFinite(cap) ? Math.min(cap, Math.max(fromTop, cap * 0.5)) : fromTop);
  }
  function fitScale() {
    return Math.min(1, (scroller.clientWidth - 4) / naturalWidth, (availableHeight() - 4) / naturalHeight);
  }
  state.fitScale = fitScale;
  document.getElementById("zoom-in").addEventListener("click", function () { setScale(state.scale * 1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { setScale(state.scale / 1.25); });
  document.getElementById("zoom-fit").addEventListener("click", function () { setScale(fitScale()); });

  // Wide graphs open scrolled so that the base node is in view.
  function centreOnBase() {
    var base = svg ? svg.querySelector("g.node[data-nodetype=base]") : null;
    if (!base || scroller.scrollWidth <= scroller.clientWidth) { return; }
    var box = base.getBoundingClientRect();
    var frame = scroller.getBoundingClientRect();
    scroller.scrollLeft += box.left + box.width / 2 - (frame.left + frame.width / 2);
  }

  // ---- start -----------------------------------------------------------------------------------------
  decorateGraph();
  markFindings();
  setScale(Math.max(fitScale(), 0.3));
  fromHash("initial");
  centreOnBase();
  window.addEventListener("hashchange", function () { fromHash(false); });
  state.timings.initialised = performance.now();
  requestAnimationFrame(function () {
    requestAnimationFrame(function () {
      state.timings.rendered = performance.now();
      state.ready = true;
      document.body.setAttribute("data-ready", "true");
    });
  });
  window.addEventListener("load", function () { state.timings.loaded = performance.now(); });
  state.select = select;
})();
