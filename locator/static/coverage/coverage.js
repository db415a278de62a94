/* 覆盖分析 (/admin/coverage): progress polling while the analysis runs, then the map.
 * Every piece of text from data (names, hosts) is placed with textContent, never as markup. */
(function () {
  "use strict";

  // While the analysis runs: poll its status and reload when it has finished.
  var progress = document.getElementById("progress");
  if (progress) {
    var bar = document.getElementById("progress-bar");
    var message = document.getElementById("progress-message");
    var poll = function () {
      fetch(progress.getAttribute("data-status-url"), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          bar.value = job.progress;
          message.textContent = job.message;
          if (job.status === "running") { setTimeout(poll, 1500); } else { window.location.reload(); }
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, 1000);
  }

  var holder = document.getElementById("coverage-map");
  var configNode = document.getElementById("coverage-config");
  if (!holder || !configNode || !window.L) return;
  var cfg = JSON.parse(configNode.textContent);
  L.Control.Attribution.prototype.options.prefix = '<a href="https://leafletjs.com">Leaflet</a>';

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  var map = L.map(holder, { preferCanvas: true, zoomControl: true });
  window.CoverageMap = { map: map, ready: false };
  holder.setAttribute("data-state", "loading");
  cfg.tiles.forEach(function (t) {
    L.tileLayer(t.url, { subdomains: t.subdomains || "abc", attribution: t.attribution, maxZoom: t.maxZoom }).addTo(map);
  });
  map.setView([27.99, 120.70], 9);

  var markers = { spot: {}, site: {} };
  fetch(cfg.mapUrl, { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then(draw)
    .catch(function () { holder.setAttribute("data-state", "error"); holder.appendChild(el("p", "cov-map-error", "地图数据加载失败，请刷新页面。")); });

  function draw(data) {
    var renderer = L.canvas({ padding: 0.2 });
    var districts = L.geoJSON(data.districts, {
      style: function (f) {
        var mine = !data.scope || data.scope.indexOf(f.properties.code) >= 0;
        return { color: "#8d6e63", weight: mine ? 1.5 : 0.6, fill: false };
      }
    }).addTo(map);
    var top = 0;
    data.cells.forEach(function (c) { if (c[1] > top) top = c[1]; });
    var cells = L.layerGroup();
    data.cells.forEach(function (c) {
      var share = top > 0 ? Math.sqrt(c[1] / top) : 0;
      var uncovered = c[2] > 0.5 * c[1];
      var poly = L.polygon(c[0], {
        renderer: renderer, stroke: false, fillOpacity: 0.2 + 0.6 * share,
        fillColor: uncovered ? "#c62828" : "#2e7d32"
      });
      poly.bindTooltip(el("span", null, "需求 " + c[1] + " " + data.unit + (c[2] > 0 ? "，未覆盖 " + c[2] : "")));
      cells.addLayer(poly);
    });
    cells.addTo(map);
    var rings = L.layerGroup(), stations = L.layerGroup();
    data.stations.forEach(function (s) {
      if (data.stations.length <= 3000) {
        rings.addLayer(L.circle([s[0], s[1]], { radius: data.radius, renderer: renderer, color: "#2e7d32", weight: 1, fill: false }));
      }
      stations.addLayer(L.circleMarker([s[0], s[1]], { renderer: renderer, radius: 3, color: "#6d4c41", weight: 1, fillOpacity: 0.9 })
        .bindTooltip(el("span", null, s[2])));
    });
    rings.addTo(map);
    stations.addTo(map);
    var spots = L.layerGroup(), sites = L.layerGroup();
    data.blindSpots.forEach(function (b) {
      var m = L.marker([b[0], b[1]], {
        icon: L.divIcon({ className: "cov-spot", html: "<span>" + Number(b[2]) + "</span>", iconSize: [26, 26] }),
        title: b[3]
      }).bindPopup(el("div", null, b[3]));
      markers.spot[b[2]] = m;
      spots.addLayer(m);
    });
    data.sites.forEach(function (s) {
      var m = L.marker([s[0], s[1]], {
        icon: L.divIcon({ className: "cov-site", html: "<span>★" + Number(s[2]) + "</span>", iconSize: [34, 26] }),
        title: s[3], zIndexOffset: 1000
      }).bindPopup(el("div", null, s[3]));
      markers.site[s[2]] = m;
      sites.addLayer(m);
    });
    spots.addTo(map);
    sites.addTo(map);
    L.control.layers(null, {
      "需求网格": cells, "服务半径": rings, "现有站点": stations, "覆盖盲区": spots, "建议新址": sites, "区县界线": districts
    }, { collapsed: true }).addTo(map);
    var bounds = cells.getLayers().length ? L.featureGroup(cells.getLayers()).getBounds() : districts.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
    holder.setAttribute("data-state", "ready");
    window.CoverageMap.ready = true;
  }

  // Tapping a blind spot or a suggested site in the lists shows it on the map.
  Array.prototype.forEach.call(document.querySelectorAll(".cov-go"), function (btn) {
    btn.addEventListener("click", function () {
      var m = markers[btn.getAttribute("data-kind")][btn.getAttribute("data-rank")];
      if (!m) return;
      holder.scrollIntoView({ behavior: "smooth", block: "center" });
      map.setView(m.getLatLng(), Math.max(map.getZoom(), 14));
      m.openPopup();
      holder.setAttribute("data-focus", btn.getAttribute("data-kind") + "-" + btn.getAttribute("data-rank"));
    });
  });
})();
