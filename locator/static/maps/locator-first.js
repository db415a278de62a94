/* 驿站地图, the first view: station markers drawn before Leaflet arrives (issue 15, slow phones).
 *
 * On a 400 kbps phone Leaflet (42 KB gzip) alone takes more than two seconds to arrive, so the map
 * pages carry their stations in the page (a JSON script element, never run as script) and this small
 * script, which runs as soon as the stylesheet is in, draws the first view's clusters and markers as
 * buttons at the very pixels where Leaflet will put them: the same clustering (supercluster, loaded
 * just before this file, and the same merging of close centres), the same Web-Mercator maths as
 * Leaflet's EPSG:3857 and the same view (the stations' extent, or the page's centre and zoom).
 * Only then does it ask for Leaflet and the map script (data-load on its script tag): on a slow line
 * they would otherwise share the bandwidth with the stylesheet and this file and hold back the first
 * markers. When they have run, the page's map script (handed to whenReady) makes the Leaflet map and
 * LocatorMap.init draws the same markers with Leaflet and removes these in the same task (`take()`):
 * no duplicate, nothing moves. A tap or Enter on a first marker before then is remembered and carried
 * out by the real map as soon as it is there.
 *
 * The clustering functions here are also the real map's (locator-map.js calls them), so the two
 * drawings cannot drift apart. Station names only ever go into attributes (setAttribute), never markup.
 */
(function () {
  "use strict";
  var MIN_SEP = 40;  // px between any two drawn centres (markers and badges are 44-52 px wide)
  var R = 6378137, MAX_LAT = 85.0511287798, D = Math.PI / 180, DI = 180 / Math.PI, S = 0.5 / (Math.PI * R);

  // -- Leaflet's EPSG:3857 (L.CRS.EPSG3857 with L.Projection.SphericalMercator), to the same floats ----
  function project(lat, lng, z) {
    var scale = 256 * Math.pow(2, z), l = Math.max(Math.min(MAX_LAT, lat), -MAX_LAT), sin = Math.sin(l * D);
    return { x: scale * (S * (R * lng * D) + 0.5), y: scale * (-S * (R * Math.log((1 + sin) / (1 - sin)) / 2) + 0.5) };
  }
  function unproject(x, y, z) {
    var scale = 256 * Math.pow(2, z), px = (x / scale - 0.5) / S, py = (y / scale - 0.5) / -S;
    return [(2 * Math.atan(Math.exp(py / R)) - (Math.PI / 2)) * DI, px * DI / R];
  }

  // -- clustering, shared with locator-map.js ----------------------------------------------------
  /** A supercluster index over the visible types, counts per type reduced into each cluster. */
  function index(rows, visible, nTypes, minZoom, maxZoom) {
    var feats = [];
    for (var i = 0; i < rows.length; i++) {
      if (!visible[rows[i][2]]) continue;
      feats.push({ type: "Feature", properties: { i: i, t: rows[i][2] },
                   geometry: { type: "Point", coordinates: [rows[i][1], rows[i][0]] } });
    }
    return new Supercluster({
      radius: 44, extent: 256, minZoom: minZoom, maxZoom: maxZoom,
      map: function (p) { var o = {}; for (var k = 0; k < nTypes; k++) o["c" + k] = p.t === k ? 1 : 0; return o; },
      reduce: function (a, b) { for (var k = 0; k < nTypes; k++) a["c" + k] += b["c" + k]; },
    }).load(feats);
  }

  /** What to draw at zoom z within bbox [w, s, e, n]: clusters and stations, centres merged until none
   * is closer than MIN_SEP px. toPoint(lat, lng) gives layer pixels, toLatLng(x, y) the way back. */
  function items(idx, z, bbox, nTypes, toPoint, toLatLng) {
    var list = idx.getClusters(bbox, z).map(function (f) {
      var c = f.geometry.coordinates, p = toPoint(c[1], c[0]), counts = [];
      if (f.properties.cluster) {
        for (var k = 0; k < nTypes; k++) counts.push(f.properties["c" + k]);
        return { x: p.x, y: p.y, n: f.properties.point_count, counts: counts, clusters: [f.properties.cluster_id], points: [],
                 ll: [c[1], c[0]] };
      }
      for (var j = 0; j < nTypes; j++) counts.push(j === f.properties.t ? 1 : 0);
      return { x: p.x, y: p.y, n: 1, counts: counts, clusters: [], points: [f.properties.i], ll: [c[1], c[0]] };
    });
    // supercluster's greedy clusters can end up closer than their radius: merge until none is.
    list.sort(function (a, b) { return b.n - a.n; });
    var changed = true;
    while (changed) {
      changed = false;
      for (var a = 0; a < list.length; a++) {
        for (var d = a + 1; d < list.length; d++) {
          var A = list[a], B = list[d], dx = A.x - B.x, dy = A.y - B.y;
          if (dx * dx + dy * dy >= MIN_SEP * MIN_SEP) continue;
          var n = A.n + B.n;
          A.x = (A.x * A.n + B.x * B.n) / n; A.y = (A.y * A.n + B.y * B.n) / n;
          for (var k2 = 0; k2 < nTypes; k2++) A.counts[k2] += B.counts[k2];
          A.n = n; A.clusters = A.clusters.concat(B.clusters); A.points = A.points.concat(B.points);
          A.ll = toLatLng(A.x, A.y);
          list.splice(d, 1); d--; changed = true;
        }
      }
    }
    return list;
  }

  function keyOf(item) {
    return item.n === 1 ? "p" + item.points[0] : "c" + item.clusters.join(",") + "|" + item.points.join(",");
  }

  /** The marker's class, size and inner markup: our vocabulary and numbers only (no station text). */
  function icon(item, types, rows) {
    if (item.n === 1) {
      var t = types[rows[item.points[0]][2]];
      return { className: "lm-marker lm-type-" + t.key, size: 44,
               html: '<span class="lm-pin" style="background:' + t.color + '">' + t.icon + "</span>" };
    }
    var stops = [], acc = 0;
    item.counts.forEach(function (c, k) {
      if (!c) return;
      stops.push(types[k].color + " " + (acc / item.n * 360).toFixed(1) + "deg " + ((acc + c) / item.n * 360).toFixed(1) + "deg");
      acc += c;
    });
    return { className: "lm-cluster", size: item.n >= 1000 ? 52 : 44,
             html: '<span class="lm-ring" style="background:conic-gradient(' + stops.join(",") + ')"><span class="lm-count">' +
                   item.n + "</span></span>" };
  }

  function label(item, types, rows) {
    if (item.n === 1) {
      var r = rows[item.points[0]];
      return r[3] + "（" + types[r[2]].label + "）";
    }
    var mix = [];
    item.counts.forEach(function (c, k) { if (c) mix.push(types[k].label + " " + c + " 个"); });
    return item.n + " 个站点：" + mix.join("、") + "。点按放大";
  }

  // -- loading Leaflet and the map script after the first markers --------------------------------
  var waiting = [], script = document.currentScript;
  /** Runs fn once the scripts named in data-load have run (at once on pages that load them otherwise). */
  function whenReady(fn) { if (api.loaded || !script || !script.getAttribute("data-load")) fn(); else waiting.push(fn); }
  function loadScripts() {
    var srcs = (script && script.getAttribute("data-load") || "").split(" ").filter(Boolean), left = srcs.length;
    srcs.forEach(function (src) {
      var s = document.createElement("script");
      s.src = src;
      s.async = false;  // run in order (Leaflet first), download together
      s.onload = function () {
        if (--left) return;
        api.loaded = true;
        waiting.splice(0).forEach(function (fn) { fn(); });
      };
      s.onerror = function () {
        var box = document.querySelector(".folium-map");
        if (box) box.setAttribute("data-state", "error");
      };
      document.head.appendChild(s);
    });
  }

  var api = { index: index, items: items, keyOf: keyOf, icon: icon, label: label, project: project, unproject: unproject,
              MIN_SEP: MIN_SEP, whenReady: whenReady };
  window.LocatorFirst = api;
  drawFirst();
  loadScripts();

  // -- the first view, before Leaflet -------------------------------------------------------------
  function drawFirst() {
    var source = document.getElementById("lm-first");
    if (!source) return;
    var first = JSON.parse(source.textContent);
    var box = document.getElementById(first.mapId);
    if (!box || !first.rows || !first.rows.length) return;
    var w = box.clientWidth, h = box.clientHeight;
    if (!w || !h) return;

    // Leaflet's view: fitBounds(bounds, {padding: [20, 20], maxZoom: 15}) from the page's zoom, or the page's view.
    var z = first.zoom, center = first.center;
    if (first.bounds) {
      var b = first.bounds, sw = project(b[0][0], b[0][1], z), ne = project(b[1][0], b[1][1], z);
      var scale = Math.min((w - 40) / Math.abs(ne.x - sw.x), (h - 40) / Math.abs(sw.y - ne.y));
      var fz = Math.log(scale * 256 * Math.pow(2, z) / 256) / Math.LN2;
      fz = isNaN(fz) ? Infinity : fz;
      fz = Math.floor(Math.round(fz / 0.01) * 0.01);
      z = Math.min(15, Math.max(first.minZoom, Math.min(first.maxZoom, fz)));
      var sw2 = project(b[0][0], b[0][1], z), ne2 = project(b[1][0], b[1][1], z);
      center = unproject((sw2.x + ne2.x) / 2, (sw2.y + ne2.y) / 2, z);
    }
    var c = project(center[0], center[1], z);
    var ox = Math.round(c.x - w / 2), oy = Math.round(c.y - h / 2);  // Leaflet's pixel origin
    // The view's bounds padded by a quarter (LatLngBounds.pad(0.25)), as locator-map.js asks supercluster.
    var nw = unproject(ox, oy, z), se = unproject(ox + w, oy + h, z);
    var dLat = Math.abs(se[0] - nw[0]) * 0.25, dLng = Math.abs(se[1] - nw[1]) * 0.25;
    var bbox = [nw[1] - dLng, se[0] - dLat, se[1] + dLng, nw[0] + dLat];

    var types = first.types, rows = first.rows;
    var visible = types.map(function () { return true; });
    var idx = index(rows, visible, types.length, first.minZoom, first.maxZoom);
    var list = items(idx, z, bbox, types.length, function (lat, lng) {
      var p = project(lat, lng, z);
      return { x: Math.round(p.x) - ox, y: Math.round(p.y) - oy };
    }, function (x, y) { return unproject(x + ox, y + oy, z); });

    var layer = document.createElement("div");
    layer.className = "lm-first";
    var nodes = {};
    list.forEach(function (item) {
      var ic = icon(item, types, rows), key = keyOf(item), half = ic.size / 2;
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = ic.className + " lm-first-marker";
      btn.style.cssText = "width:" + ic.size + "px;height:" + ic.size + "px;margin:-" + half + "px 0 0 -" + half + "px;" +
        "left:" + Math.round(item.x) + "px;top:" + Math.round(item.y) + "px";
      btn.innerHTML = ic.html;  // our vocabulary and numbers (see icon())
      btn.setAttribute("aria-label", label(item, types, rows));
      btn.setAttribute("data-key", key);
      btn.addEventListener("click", function () {
        // Leaflet is not there yet: the real map opens this card (or zooms to this cluster) when it is.
        api.pending = key;
        btn.setAttribute("aria-busy", "true");
        btn.classList.add("lm-first-pending");
      });
      nodes[key] = btn;
      layer.appendChild(btn);
    });
    box.appendChild(layer);
    box.setAttribute("data-first", String(list.length));

    /** Hands the first view to the real map: the index (when built alike), and removes these markers. */
    api.state = {
      rows: rows, index: idx, zoom: z, minZoom: first.minZoom, maxZoom: first.maxZoom,
      take: function () {
        var focused = null;
        Object.keys(nodes).forEach(function (key) { if (document.activeElement === nodes[key]) focused = key; });
        layer.remove();
        api.state.taken = true;
        return { focused: focused, pending: api.pending || null };
      },
    };
  }
})();
