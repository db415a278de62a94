/* 驿站地图: draws stations, districts, rings and controls on a folium/Leaflet map, for a thumb.
 * - One clustering over every visible type (supercluster, counts per type reduced into each cluster);
 *   a badge's ring shows the type mix. Drawn centres closer than MIN_SEP px are merged, so no badge
 *   or marker centre ever lies under another, at any zoom.
 * - A tap/click (or Enter on a focused marker) on a station opens its card (the API's station JSON);
 *   on a cluster it zooms to its stations; at street level a cluster that cannot split lists them.
 * Station text is only ever placed with textContent (never innerHTML): names and addresses come
 * from organizers' spreadsheets and must not run as markup. */
(function () {
  "use strict";
  if (window.L) {
    // Leaflet 1.9's default attribution prefix carries a national flag; our maps name Leaflet plainly.
    L.Control.Attribution.prototype.options.prefix = '<a href="https://leafletjs.com">Leaflet</a>';
    L.Control.Zoom.prototype.options.zoomInTitle = "放大";
    L.Control.Zoom.prototype.options.zoomOutTitle = "缩小";
    L.Control.Scale.prototype.options.imperial = false;  // metric only
  }
  var C = window.LocatorCard, el = C.el, F = window.LocatorFirst;  // F: clustering shared with the first view
  var MAX_LIST = 50;  // stations listed when a cluster cannot split any more

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

  var LOCATE_REASONS = {
    1: "你拒绝了位置授权。可在浏览器或微信的设置里允许本网站使用位置，再点“定位”。",
    2: "暂时无法获取你的位置（定位服务不可用）。",
    3: "定位超时，请到开阔处再试。",
    insecure: "当前页面不是 HTTPS 安全连接，浏览器不允许定位。",
    unsupported: "此浏览器不支持定位。",
  };

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

  function init(map, cfg) {
    var container = map.getContainer();
    container.setAttribute("data-state", "loading");
    window.LocatorMap.last = map;  // for scripts and tests that drive the page
    var types = cfg.types, rows = [], index = null, me = null;
    var visible = types.map(function () { return true; });
    var layer = L.layerGroup().addTo(map);
    var drawn = {};  // key -> marker, so an unchanged marker (and its keyboard focus) survives a redraw
    // The map pages name their zoom range (their tiles come later, in a task of their own).
    if (cfg.maxZoom) map.setMaxZoom(cfg.maxZoom);
    if (cfg.minZoom) map.setMinZoom(cfg.minZoom);
    var maxZoom = map.getMaxZoom() < Infinity ? map.getMaxZoom() : 18;
    var minZoom = cfg.minZoom || map.getMinZoom() || 0;
    if (map.zoomControl) map.zoomControl.setPosition("topright");
    // Open on the stations at once (the server knows their extent): no second layout when they arrive.
    if (cfg.fitData && cfg.bounds) map.fitBounds(cfg.bounds, { padding: [20, 20], maxZoom: 15, animate: false });

    // The first view drawn before Leaflet (locator-first.js) brought the stations with the page;
    // otherwise the data request goes out first (it was preloaded) and everything else is set up meanwhile.
    var first = F.state && !F.state.taken ? F.state : null;
    var stationsRequest = first ? null : fetch(cfg.dataUrl, { credentials: "same-origin" });
    var card = C.sheet(container);
    L.DomEvent.disableClickPropagation(card.el);
    L.DomEvent.disableScrollPropagation(card.el);

    // -- notices inside the map (tiles failed, locating refused) --------------------------------
    var notices = el("div", "lm-notices");
    notices.setAttribute("aria-live", "polite");
    container.appendChild(notices);
    L.DomEvent.disableClickPropagation(notices);
    function notice(kind, text) {
      var old = notices.querySelector("[data-kind='" + kind + "']");
      if (old) old.remove();
      var p = el("p", "lm-notice lm-notice-" + kind);
      p.setAttribute("data-kind", kind);
      p.setAttribute("role", kind === "tiles" ? "status" : "alert");
      p.appendChild(el("span", null, text));
      var x = el("button", "lm-notice-close", "知道了");
      x.type = "button";
      x.addEventListener("click", function () { p.remove(); });
      p.appendChild(x);
      notices.appendChild(p);
    }

    // -- tiles: say so when the basemap does not load (the stations stay right) ------------------
    var tileLoads = 0, tileErrors = 0;
    function tilesFailed() {
      if (tileLoads || container.getAttribute("data-tiles") === "failed") return;
      container.setAttribute("data-tiles", "failed");
      notice("tiles", "底图加载失败，站点位置准确");
    }
    function watchTiles(l) {
      l.on("tileload", function () { tileLoads++; container.setAttribute("data-tiles", "ok"); });
      l.on("tileerror", function () { tileErrors++; if (tileErrors >= 2) tilesFailed(); });
    }
    map.eachLayer(function (l) { if (l instanceof L.TileLayer) watchTiles(l); });
    // The map pages' basemap: its credit now (so the credit line does not change later), its tiles in a
    // task after the first markers (creating them is a good part of Leaflet's work on a slow phone).
    // The map pages draw the credit line themselves, beside the map where Leaflet's would stand, from the
    // first paint (a late credit line would also be the page's last large paint); otherwise Leaflet's control.
    var credit = container.parentNode && container.parentNode.querySelector(".lm-credit");
    if (credit) {
      if (map.attributionControl) map.attributionControl.remove();
      L.DomEvent.disableClickPropagation(credit);
    } else {
      (cfg.baseLayers || []).forEach(function (t) {
        if (t.attribution && map.attributionControl) map.attributionControl.addAttribution(t.attribution);
      });
    }
    function addBaseLayers() {
      (cfg.baseLayers || []).forEach(function (t) {
        var tl = L.tileLayer(t.url, { subdomains: t.subdomains, maxZoom: t.maxZoom, maxNativeZoom: t.maxZoom });
        watchTiles(tl);
        tl.addTo(map);
        tl.bringToBack();
      });
    }
    setTimeout(tilesFailed, 12000);  // tiles that never answer

    // -- clustering over every visible type --------------------------------------------------------
    function buildIndex() {
      index = F.index(rows, visible, types.length, minZoom, maxZoom);
    }

    function viewItems() {
      var z = Math.round(map.getZoom()), b = map.getBounds().pad(0.25);
      return F.items(index, z, [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], types.length,
                     function (lat, lng) { return map.latLngToLayerPoint([lat, lng]); },
                     function (x, y) { return map.layerPointToLatLng([x, y]); });
    }

    function iconOf(item) {
      var ic = F.icon(item, types, rows);  // our vocabulary and numbers only
      return L.divIcon({ className: ic.className, html: ic.html, iconSize: [ic.size, ic.size], iconAnchor: [ic.size / 2, ic.size / 2] });
    }
    function label(item) { return F.label(item, types, rows); }

    function draw() {
      if (!index) return;
      var items = viewItems(), keep = {};
      items.forEach(function (item) {
        var key = F.keyOf(item), m = drawn[key];
        if (m) {
          m.setLatLng(item.ll);
          m._item = item;
        } else {
          m = L.marker(item.ll, {
            icon: iconOf(item),
            keyboard: true, riseOnHover: true,
          });
          m._item = item;
          m.on("click", function () { activate(m._item, m.getElement()); });
          m.on("add", function () {
            var node = m.getElement();
            node.setAttribute("aria-label", label(m._item));
            node.setAttribute("data-key", key);
            node.addEventListener("keydown", function (e) {
              if (e.key === "Enter" || e.key === " ") { e.preventDefault(); activate(m._item, node); }
            });
          });
          layer.addLayer(m);
        }
        keep[key] = m;
      });
      Object.keys(drawn).forEach(function (key) { if (!keep[key]) layer.removeLayer(drawn[key]); });
      drawn = keep;
      container.setAttribute("data-zoom", String(Math.round(map.getZoom())));
      container.setAttribute("data-drawn", String(items.length));
    }
    map.on("moveend", draw);

    function leaves(item) {
      var out = item.points.slice();
      item.clusters.forEach(function (id) {
        index.getLeaves(id, Infinity).forEach(function (f) { out.push(f.properties.i); });
      });
      return out;
    }

    function activate(item, node) {
      if (item.n === 1) { openStation(item.points[0], node); return; }
      var z = Math.round(map.getZoom());
      if (z >= maxZoom) { listStations(leaves(item), node); return; }
      var target, center;
      if (item.clusters.length === 1 && !item.points.length) {
        target = index.getClusterExpansionZoom(item.clusters[0]);
        center = item.ll;
      } else {
        var pts = leaves(item), b = L.latLngBounds(pts.map(function (i) { return [rows[i][0], rows[i][1]]; }));
        target = map.getBoundsZoom(b, false, L.point(60, 60));
        center = b.getCenter();
      }
      map.setView(center, Math.max(z + 1, Math.min(target, maxZoom)));
    }

    // -- the card ---------------------------------------------------------------------------------
    function openStation(i, node) {
      var row = rows[i];
      var keyboard = document.activeElement === node;
      card.open(row[3], el("p", "sc-loading", "加载中…"), node, keyboard);
      var url = cfg.detailUrl.replace("__ID__", encodeURIComponent(row[4]));
      // The distance is the API's (WGS-84 geodesic), for the position in the basemap's system.
      if (me) url += "&lat=" + me[0].toFixed(6) + "&lng=" + me[1].toFixed(6);
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (s) {
        // 这里可用 / 报告问题 post to the station's own API URL (the detail URL without its query).
        var feedback = cfg.feedbackUrl || cfg.detailUrl.split("?")[0];
        card.open(s.name, C.card(s, { stationPage: cfg.stationPage, markSample: !cfg.allSample, feedback: feedback }),
                  null, keyboard);
      }).catch(function () {
        var box = el("div", "sc-card");
        box.appendChild(el("h2", "sc-name", row[3]));
        box.appendChild(el("p", "sc-error", "详情暂时无法加载，请稍后再试。"));
        var a = el("a", "button secondary sc-more", "详情");
        a.href = cfg.stationPage.replace("__ID__", encodeURIComponent(row[4]));
        box.appendChild(a);
        card.open(row[3], box, null, keyboard);
      });
    }

    function listStations(ids, node) {
      var box = el("div", "sc-list");
      box.appendChild(el("h2", "sc-name", "此处有 " + ids.length + " 个站点"));
      var ul = el("ul", "sc-items");
      ids.slice(0, MAX_LIST).forEach(function (i) {
        var li = el("li");
        var b = el("button", "sc-item", rows[i][3]);
        b.type = "button";
        var t = el("span", "sc-item-type", types[rows[i][2]].label);
        b.appendChild(t);
        b.addEventListener("click", function () { openStation(i, node); });
        li.appendChild(b);
        ul.appendChild(li);
      });
      box.appendChild(ul);
      card.open("此处的站点", box, node, document.activeElement === node);
    }

    // -- layers: types, districts, rings -------------------------------------------------------------
    var control = L.control.layers(null, {}, { collapsed: true, position: "topright" }).addTo(map);
    var toggle = control.getContainer().querySelector(".leaflet-control-layers-toggle");
    if (toggle) {
      toggle.title = "图层";
      toggle.setAttribute("aria-label", "图层");
      toggle.textContent = "图层";
    }
    var typeLayers = types.map(function () { return L.layerGroup(); });
    map.on("overlayadd overlayremove", function (e) {
      var k = typeLayers.indexOf(e.layer);
      if (k < 0) return;
      visible[k] = e.type === "overlayadd";
      buildIndex();
      draw();
    });

    var shades = ["#fff3e0", "#ffcc80", "#fb8c00", "#e65100", "#bf360c"];
    function shade(n) {
      if (!n) return shades[0];
      for (var i = 0; i < cfg.breaks.length; i++) if (n <= cfg.breaks[i]) return shades[i + 1];
      return shades[shades.length - 1];
    }
    function loadDistricts() {
      fetch(cfg.districtsUrl, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (geo) {
        var counts = cfg.counts;
        var districtLayer = L.geoJSON(null, {
          interactive: !!counts,
          style: function (f) {
            if (!counts) return { color: "#6d4c41", weight: 1.5, opacity: 0.8, fill: false };
            return { color: "#8d6e63", weight: 1.2, fillColor: shade(counts[f.properties.code]), fillOpacity: 0.45 };
          },
          onEachFeature: function (f, l) {
            if (counts) l.bindTooltip(el("span", null, f.properties.name + "：" + (counts[f.properties.code] || 0) + " 个站点"), { sticky: true });
          },
        }).addTo(map);
        // One district per task: drawing all of them at once was one of the longest tasks on a slow phone.
        var feats = geo.features.slice();
        (function next() {
          var f = feats.shift();
          if (f) { districtLayer.addData(f); setTimeout(next, 0); return; }
          districtLayer.bringToBack();
          control.addOverlay(districtLayer, counts ? "区县站点数（分级着色）" : "区县界线");
          container.setAttribute("data-districts", String(geo.features.length));
        })();
      }).catch(function () { container.setAttribute("data-districts", "error"); });
    }

    var canvas = L.canvas({ padding: 0.2 });
    function ringLayer(radius) {
      var ringGroup = L.layerGroup();
      function redraw() {
        ringGroup.clearLayers();
        var b = map.getBounds().pad(0.1), count = 0;
        for (var i = 0; i < rows.length && count < 1500; i++) {
          var r = rows[i];
          if (!visible[r[2]] || !b.contains([r[0], r[1]])) continue;
          L.circle([r[0], r[1]], { radius: radius, renderer: canvas, weight: 1, color: types[r[2]].color,
            fillOpacity: 0.08, interactive: false }).addTo(ringGroup);
          count++;
        }
      }
      ringGroup.on("add", function () { redraw(); map.on("moveend", redraw); });
      ringGroup.on("remove", function () { map.off("moveend", redraw); });
      return ringGroup;
    }

    // -- legend, scale, tools, search: set up in a task of their own (short tasks keep the page responsive)
    function addControls() {
      var legend = L.control({ position: "bottomleft" });
      legend.onAdd = function () {
        var box = el("div", "lm-legend leaflet-bar");
        box.setAttribute("aria-label", "图例");
        types.forEach(function (t) {
          var row = el("div", "lm-legend-row");
          var dot = el("span", "lm-dot", t.icon);
          dot.style.background = t.color;
          dot.setAttribute("aria-hidden", "true");
          row.appendChild(dot);
          row.appendChild(el("span", "lm-legend-label", t.label));
          box.appendChild(row);
        });
        L.DomEvent.disableClickPropagation(box);
        return box;
      };
      legend.addTo(map);
      L.control.scale({ imperial: false, metric: true, position: "bottomleft", maxWidth: 80 }).addTo(map);

      var tools = L.control({ position: "topright" });
      tools.onAdd = function () {
        var box = el("div", "lm-tools leaflet-bar");
        var dot = null;
        button(box, "定位", "定位到我的位置", function () {
          if (!window.isSecureContext) { notice("locate", "无法定位：" + LOCATE_REASONS.insecure); return; }
          if (!navigator.geolocation) { notice("locate", "无法定位：" + LOCATE_REASONS.unsupported); return; }
          navigator.geolocation.getCurrentPosition(function (pos) {
            var p = [pos.coords.latitude, pos.coords.longitude];
            if (cfg.crs === "gcj02") p = wgs84ToGcj02(p[0], p[1]);
            me = p;  // in the basemap's system, like the data file and the card's API request
            var old = notices.querySelector("[data-kind='locate']");
            if (old) old.remove();
            if (dot) map.removeLayer(dot);
            dot = L.circleMarker(p, { radius: 8, color: "#fff", weight: 3, fillColor: "#1565c0", fillOpacity: 1,
                                      interactive: false }).addTo(map);
            map.setView(p, Math.max(map.getZoom(), 14));
            container.setAttribute("data-located", "1");
          }, function (err) {
            notice("locate", "无法定位：" + (LOCATE_REASONS[err.code] || LOCATE_REASONS[2]));
          }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
        });
        button(box, "全屏", "全屏", function () {
          var doc = document, fs = doc.fullscreenElement || doc.webkitFullscreenElement;
          if (fs) { (doc.exitFullscreen || doc.webkitExitFullscreen).call(doc); return; }
          var whole = credit ? container.parentNode : container;  // the map with its credit line
          var req = whole.requestFullscreen || whole.webkitRequestFullscreen;
          if (req) { req.call(whole); } else { whole.classList.toggle("lm-fullscreen"); }
          setTimeout(function () { map.invalidateSize(); }, 200);
        });
        return box;
      };
      tools.addTo(map);
    }

    function addSearch() {
      var search = L.control({ position: "topleft" });
      search.onAdd = function () {
        var box = el("div", "lm-search");
        box.setAttribute("role", "search");
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
          list.textContent = "";
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
                list.textContent = "";
                map.setView([rows[i][0], rows[i][1]], Math.max(map.getZoom(), 15), { animate: false });
                openStation(i, input);
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
    }
    // Work after the first markers runs as a queue of short tasks, in this order (each a task of its own).
    var queue = [];
    function soon(fn) {
      queue.push(fn);
      if (queue.length === 1) setTimeout(runQueue, 0);
    }
    function runQueue() {
      try {
        queue[0]();
      } finally {
        queue.shift();
        if (queue.length) setTimeout(runQueue, 0);
      }
    }
    var controlsAdded = false;
    function controlsOnce() {
      if (controlsAdded) return;
      controlsAdded = true;
      soon(addControls);
      soon(addSearch);
    }
    if (!first) controlsOnce();  // while the station data downloads

    if (cfg.share || cfg.wechat) C.wxReady({ enabled: cfg.wechat, script: cfg.jssdk, share: cfg.share });

    // -- the stations ------------------------------------------------------------------------------
    function stationsArrived(list) {
      rows = list;
      map.locatorRows = rows;
      var t0 = performance.now();
      var perType = types.map(function () { return 0; });
      var south = 90, west = 180, north = -90, east = -180;
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i];
        perType[row[2]]++;
        if (row[0] < south) south = row[0];
        if (row[0] > north) north = row[0];
        if (row[1] < west) west = row[1];
        if (row[1] > east) east = row[1];
      }
      if (cfg.fitData && !cfg.bounds && rows.length) {
        map.fitBounds([[south, west], [north, east]], { padding: [20, 20], maxZoom: 15, animate: false });
      }
      // The first view's index was built alike (same rows, types and zoom range): no second clustering.
      if (first && first.minZoom === minZoom && first.maxZoom === maxZoom) index = first.index; else buildIndex();
      draw();
      if (first) {
        // Leaflet's markers stand where the first ones stood (same view, same clustering): swap them in this task.
        var handed = first.take();
        container.setAttribute("data-first-zoom", String(first.zoom));
        var focusM = handed.focused && drawn[handed.focused], tapped = handed.pending && drawn[handed.pending];
        if (focusM && focusM.getElement()) focusM.getElement().focus();
        if (tapped) activate(tapped._item, tapped.getElement());
      }
      container.setAttribute("data-stations", String(rows.length));
      container.setAttribute("data-draw-ms", String(Math.round(performance.now() - t0)));
      // Controls, tiles, the layer list and the outlines in later tasks: the first markers do not wait for them.
      controlsOnce();
      soon(addBaseLayers);
      soon(function () { addOverlays(perType); container.setAttribute("data-state", "ready"); loadDistricts(); });
    }
    if (first) {
      // Leaflet's markers in a task after the map's creation (shorter tasks); a move before then cannot
      // leave the first markers standing still: it hands over at once.
      var handOver = function () {
        map.off("movestart zoomstart", handOver);
        if (!first.taken) stationsArrived(first.rows);
      };
      map.on("movestart zoomstart", handOver);
      setTimeout(handOver, 0);
    } else {
      stationsRequest.then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (data) { stationsArrived(data.stations); }).catch(function () {
        container.setAttribute("data-state", "error");
        notice("data", "站点数据加载失败，请刷新重试");
      });
    }

    function addOverlays(perType) {
      // addOverlay rebuilds the whole list each time: the entries go in first, the list is built once
      // (Leaflet 1.9.4's own _addLayer/_update, which addOverlay calls; Leaflet is vendored at that version).
      types.forEach(function (t, k) {
        typeLayers[k].addTo(map);
        control._addLayer(typeLayers[k], el("span", null, t.icon + " " + t.label + "（" + perType[k] + "）").outerHTML, true);
      });
      cfg.rings.forEach(function (radius) {
        control._addLayer(ringLayer(radius), "服务半径 " + (radius >= 1000 ? radius / 1000 + " 公里" : radius + " 米"), true);
      });
      control._update();
    }
  }

  window.LocatorMap = { init: init, wgs84ToGcj02: wgs84ToGcj02 };
})();
