/* 驿站地图: draws stations, districts, rings and controls on a folium/Leaflet map.
 * Station text is only ever placed with textContent (never innerHTML): names and addresses
 * come from organizers' spreadsheets and must not run as markup. */
(function () {
  "use strict";
  // Leaflet 1.9's default attribution prefix carries a national flag; our maps name Leaflet plainly.
  if (window.L) L.Control.Attribution.prototype.options.prefix = '<a href="https://leafletjs.com">Leaflet</a>';

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // WGS-84 -> GCJ-02 (the published closed formula), for the locate-me dot on AMap tiles.
  function outOfChina(lng, lat) { return lng < 72.004 || lng > 137.8347 || lat < 0.8293 || lat > 55.8271; }
  function tLat(x, y) {
    var r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    r += (20 * Math.sin(y * Math.PI) + 40 * Math.sin(y / 3 * Math.PI)) * 2 / 3;
    r += (160 * Math.sin(y / 12 * Math.PI) + 320 * Math.sin(y * Math.PI / 30)) * 2 / 3;
    return r;
  }
  function tLng(x, y) {
    var r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    r += (20 * Math.sin(x * Math.PI) + 40 * Math.sin(x / 3 * Math.PI)) * 2 / 3;
    r += (150 * Math.sin(x / 12 * Math.PI) + 300 * Math.sin(x / 30 * Math.PI)) * 2 / 3;
    return r;
  }
  function wgs84ToGcj02(lat, lng) {
    if (outOfChina(lng, lat)) return [lat, lng];
    var a = 6378245.0, ee = 0.00669342162296594323;
    var dLat = tLat(lng - 105, lat - 35), dLng = tLng(lng - 105, lat - 35);
    var radLat = lat / 180 * Math.PI, magic = 1 - ee * Math.sin(radLat) * Math.sin(radLat);
    var sq = Math.sqrt(magic);
    dLat = (dLat * 180) / ((a * (1 - ee)) / (magic * sq) * Math.PI);
    dLng = (dLng * 180) / (a / sq * Math.cos(radLat) * Math.PI);
    return [lat + dLat, lng + dLng];
  }

  function button(container, label, title, onClick) {
    var b = el("button", "lm-btn", label);
    b.type = "button";
    b.title = title;
    b.setAttribute("aria-label", title);
    L.DomEvent.disableClickPropagation(b);
    L.DomEvent.on(b, "click", function (e) { L.DomEvent.preventDefault(e); onClick(b); });
    container.appendChild(b);
    return b;
  }

  function popupContent(s, types) {
    var box = el("div", "lm-popup");
    box.appendChild(el("strong", "lm-name", s.name));
    var t = s.type_label ? s.type_label.zh : s.type;
    box.appendChild(el("div", "lm-type", t));
    if (s.address) box.appendChild(el("div", "lm-address", s.address));
    if (s.hours || s.status !== "open") {  // unknown hours: neither 营业中 nor 未营业, only the line below
      var open = el("div", "lm-open " + (s.open_now ? "is-open" : "is-closed"),
        s.open_now ? "营业中" : (s.status === "open" ? "未营业" : s.status_label));
      box.appendChild(open);
    }
    box.appendChild(el("div", "lm-hours", "开放时间：" + s.hours_text));
    if (s.amenities && s.amenities.length) {
      var ul = el("ul", "lm-amenities");
      s.amenities.forEach(function (a) { ul.appendChild(el("li", null, (a.icon ? a.icon + " " : "") + a.zh)); });
      box.appendChild(ul);
    }
    if (s.approximate || s.provenance === "sample") box.appendChild(el("div", "lm-note", "位置为示意"));
    return box;
  }

  var CLUSTER_MAX_ZOOM = 16;  // from zoom 17 on, every station is drawn on its own

  function init(map, cfg) {
    var container = map.getContainer();
    container.setAttribute("data-state", "loading");
    window.LocatorMap.last = map;  // for scripts and tests that drive the page
    var types = cfg.types;
    var groups = [], rows = [];
    var icons = types.map(function (t) {
      return L.divIcon({
        className: "lm-marker lm-type-" + t.key,
        html: '<span style="background:' + t.color + '">' + t.icon + "</span>",  // our vocabulary, not station text
        iconSize: [26, 26], iconAnchor: [13, 13], popupAnchor: [0, -12]
      });
    });
    var indices = [];
    types.forEach(function () { groups.push(L.layerGroup()); indices.push(null); });
    function clusterIcon(t, n) {
      var wrap = el("div");
      var span = el("span", null, n);
      span.style.background = t.color;
      wrap.appendChild(span);
      var size = n < 100 ? 34 : n < 1000 ? 40 : 46;
      return L.divIcon({ html: wrap.innerHTML, className: "lm-cluster", iconSize: [size, size] });
    }
    // Draw only what is in view: clusters from the type's index, single stations when zoomed in.
    function drawType(k) {
      var g = groups[k], index = indices[k];
      g.clearLayers();
      if (!index || !map.hasLayer(g)) return;
      var b = map.getBounds().pad(0.05), z = Math.round(map.getZoom());
      var items = index.getClusters([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], z);
      for (var j = 0; j < items.length; j++) {
        var f = items[j], c = f.geometry.coordinates, m;
        if (f.properties.cluster) {
          m = L.marker([c[1], c[0]], { icon: clusterIcon(types[k], f.properties.point_count), keyboard: false,
            clusterId: f.properties.cluster_id, typeIndex: k });
        } else {
          var i = f.properties.i;
          m = L.marker([c[1], c[0]], { icon: icons[k], title: rows[i][3], keyboard: false, row: i });
        }
        g.addLayer(m);
      }
    }
    function drawAll() { for (var k = 0; k < groups.length; k++) drawType(k); }
    map.on("moveend", drawAll);
    groups.forEach(function (g, k) { g.on("add", function () { drawType(k); }); });

    var overlays = {};
    var control = L.control.layers(null, overlays, { collapsed: true, position: "topright" }).addTo(map);

    // Districts: choropleth of station counts.
    if (cfg.districts) {
      var breaks = cfg.breaks, shades = ["#fff3e0", "#ffcc80", "#fb8c00", "#e65100", "#bf360c"];
      var shade = function (n) {
        if (!n) return shades[0];
        for (var i = 0; i < breaks.length; i++) if (n <= breaks[i]) return shades[i + 1];
        return shades[shades.length - 1];
      };
      var districtLayer = L.geoJSON(cfg.districts, {
        style: function (f) {
          return { color: "#8d6e63", weight: 1.2, fillColor: shade(f.properties.count), fillOpacity: 0.45 };
        },
        onEachFeature: function (f, layer) {
          layer.bindTooltip(el("span", null, f.properties.name + "：" + f.properties.count + " 个站点"), { sticky: true });
        }
      }).addTo(map);
      control.addOverlay(districtLayer, "区县站点数（分级着色）");
    }

    // One map-level popup, not one per marker: markers are redrawn on every move (and a popup's
    // own auto-pan moves the map), so the popup must not belong to a marker.
    function openPopup(i) {
      var row = rows[i];
      var popup = L.popup({ maxWidth: 260, offset: [0, -10] })
        .setLatLng([row[0], row[1]])
        .setContent(el("div", "lm-popup", "加载中…"))
        .openOn(map);
      var url = cfg.detailUrl.replace("__ID__", encodeURIComponent(row[4]));
      fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (s) {
        popup.setContent(popupContent(s, types));
      }).catch(function () {
        var box = el("div", "lm-popup");
        box.appendChild(el("strong", "lm-name", row[3]));
        box.appendChild(el("div", "lm-note", "详情暂时无法加载"));
        popup.setContent(box);
      });
    }
    groups.forEach(function (g, k) {
      g.on("click", function (e) {
        var o = e.layer.options;
        if (o.clusterId !== undefined) {
          map.setView(e.layer.getLatLng(), Math.min(indices[k].getClusterExpansionZoom(o.clusterId), 18));
        } else {
          openPopup(o.row);
        }
      });
    });

    // Service rings, drawn for the stations in view (all of them would be too many at 100,000).
    var canvas = L.canvas({ padding: 0.2 });
    function ringLayer(radius) {
      var layer = L.layerGroup();
      function redraw() {
        layer.clearLayers();
        var b = map.getBounds().pad(0.1), drawn = 0;
        for (var i = 0; i < rows.length && drawn < 1500; i++) {
          var r = rows[i];
          if (!map.hasLayer(groups[r[2]]) || !b.contains([r[0], r[1]])) continue;
          L.circle([r[0], r[1]], { radius: radius, renderer: canvas, weight: 1, color: types[r[2]].color,
            fillOpacity: 0.08, interactive: false }).addTo(layer);
          drawn++;
        }
      }
      layer.on("add", function () { redraw(); map.on("moveend", redraw); });
      layer.on("remove", function () { map.off("moveend", redraw); });
      return layer;
    }
    cfg.rings.forEach(function (radius) {
      control.addOverlay(ringLayer(radius), "服务半径 " + (radius >= 1000 ? radius / 1000 + " 公里" : radius + " 米"));
    });

    // Legend.
    var legend = L.control({ position: "bottomleft" });
    legend.onAdd = function () {
      var box = el("div", "lm-legend leaflet-bar");
      types.forEach(function (t) {
        var row = el("div", "lm-legend-row");
        var dot = el("span", "lm-dot", t.icon);
        dot.style.background = t.color;
        row.appendChild(dot);
        row.appendChild(el("span", "lm-legend-label", t.label));
        box.appendChild(row);
      });
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    legend.addTo(map);

    // Locate me, fullscreen, search.
    var tools = L.control({ position: "topleft" });
    tools.onAdd = function () {
      var box = el("div", "lm-tools leaflet-bar");
      var dot = null;
      button(box, "◎", "定位到我的位置", function (b) {
        if (!navigator.geolocation) { b.title = "此浏览器不支持定位"; return; }
        navigator.geolocation.getCurrentPosition(function (pos) {
          var p = [pos.coords.latitude, pos.coords.longitude];
          if (cfg.crs === "gcj02") p = wgs84ToGcj02(p[0], p[1]);
          if (dot) map.removeLayer(dot);
          dot = L.circleMarker(p, { radius: 8, color: "#1565c0", fillOpacity: 0.8 }).addTo(map);
          map.setView(p, Math.max(map.getZoom(), 14));
        }, function () { b.title = "无法获取位置"; }, { enableHighAccuracy: true, timeout: 10000 });
      });
      button(box, "全屏", "全屏", function () {
        var doc = document, fs = doc.fullscreenElement || doc.webkitFullscreenElement;
        if (fs) { (doc.exitFullscreen || doc.webkitExitFullscreen).call(doc); return; }
        var req = container.requestFullscreen || container.webkitRequestFullscreen;
        if (req) { req.call(container); } else { container.classList.toggle("lm-fullscreen"); }
        setTimeout(function () { map.invalidateSize(); }, 200);
      });
      return box;
    };
    tools.addTo(map);

    var search = L.control({ position: "topleft" });
    search.onAdd = function () {
      var box = el("div", "lm-search");
      var input = el("input");
      input.type = "search";
      input.placeholder = "搜索站点名称";
      input.setAttribute("aria-label", "搜索站点名称");
      var list = el("ul", "lm-results");
      box.appendChild(input);
      box.appendChild(list);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      input.addEventListener("input", function () {
        while (list.firstChild) list.removeChild(list.firstChild);
        var q = input.value.trim().toLowerCase();
        if (!q) return;
        var found = 0;
        for (var i = 0; i < rows.length && found < 8; i++) {
          if (String(rows[i][3]).toLowerCase().indexOf(q) === -1) continue;
          found++;
          (function (i) {
            var li = el("li");
            var b = el("button", "lm-result", rows[i][3]);
            b.type = "button";
            b.addEventListener("click", function () {
              var g = groups[rows[i][2]];
              if (!map.hasLayer(g)) map.addLayer(g);
              map.setView([rows[i][0], rows[i][1]], Math.max(map.getZoom(), CLUSTER_MAX_ZOOM + 1), { animate: false });
              drawAll();
              // After this click has finished: the same click reaching the map would close it.
              setTimeout(function () { openPopup(i); }, 0);
              while (list.firstChild) list.removeChild(list.firstChild);
            });
            li.appendChild(b);
            list.appendChild(li);
          })(i);
        }
        if (!found) list.appendChild(el("li", "lm-none", "没有找到"));
      });
      return box;
    };
    search.addTo(map);

    fetch(cfg.dataUrl, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (data) {
      rows = data.stations;
      map.locatorRows = rows;
      var t0 = performance.now();
      var perType = types.map(function () { return []; });
      var south = 90, west = 180, north = -90, east = -180;
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i];
        perType[row[2]].push({ type: "Feature", properties: { i: i }, geometry: { type: "Point", coordinates: [row[1], row[0]] } });
        if (row[0] < south) south = row[0];
        if (row[0] > north) north = row[0];
        if (row[1] < west) west = row[1];
        if (row[1] > east) east = row[1];
      }
      if (cfg.fitData && rows.length) {
        map.fitBounds([[south, west], [north, east]], { padding: [20, 20], maxZoom: 15, animate: false });
      }
      types.forEach(function (t, k) {
        indices[k] = new Supercluster({ radius: 60, minZoom: 7, maxZoom: CLUSTER_MAX_ZOOM }).load(perType[k]);
        groups[k].addTo(map);
        var label = el("span", null, t.icon + " " + t.label + "（" + perType[k].length + "）");
        control.addOverlay(groups[k], label.outerHTML);
      });
      container.setAttribute("data-stations", String(rows.length));
      container.setAttribute("data-draw-ms", String(Math.round(performance.now() - t0)));
      container.setAttribute("data-state", "ready");
    }).catch(function (err) {
      container.setAttribute("data-state", "error");
      var note = L.control({ position: "bottomright" });
      note.onAdd = function () { return el("div", "lm-error", "站点数据加载失败，请刷新重试"); };
      note.addTo(map);
    });
  }

  window.LocatorMap = { init: init, wgs84ToGcj02: wgs84ToGcj02 };
})();
