/* The rider page: locate (WeChat JS-SDK or the browser), list the nearest stations, draw a small map,
   navigate. Station text only ever goes through textContent (station-card.js). The rider's position lives
   in this closure: it is sent to the nearest endpoint only and never written to any storage (the list
   survives Back through the browser's back-forward cache, not through sessionStorage). */
(function () {
  "use strict";
  var app = document.getElementById("app");
  if (!app) return;
  var C = window.LocatorCard, el = C.el;
  var D = app.dataset;
  var REASONS = {
    denied: "你拒绝了位置授权（可在浏览器或微信的设置里重新允许）。",
    unavailable: "暂时无法获取你的位置（定位服务不可用）。",
    timeout: "定位超时。",
    insecure: "当前页面不是 HTTPS 安全连接，浏览器不允许定位。",
  };
  var $ = function (id) { return document.getElementById(id); };
  var statusEl = $("status"), reasonEl = $("reason"), results = $("results");
  var locateBtn = $("locate-btn"), mapBox = $("map-box"), mapEl = $("map"), filters = $("filters");
  var position = null, map = null, layer = null, sheet = null, shown = [], pending = null;
  var share = null;
  try { share = JSON.parse(D.share || "null"); } catch (e) { share = null; }
  var wxOptions = { enabled: !!D.wechat, script: D.jssdk, share: share };

  function setStatus(text) { if (statusEl) statusEl.textContent = text; }

  // -- locating ---------------------------------------------------------------------------------
  function fail(reason) {
    position = null;
    setStatus("未能定位。");
    if (reasonEl) {
      reasonEl.textContent = "无法获取位置：" + REASONS[reason] + "请在下方按区县查找或搜索。";
      reasonEl.dataset.reason = reason;
      reasonEl.hidden = false;
    }
    if (locateBtn) { locateBtn.textContent = "重新定位"; locateBtn.hidden = false; }
  }

  function browserLocate() {
    if (!window.isSecureContext) return fail("insecure");
    if (!navigator.geolocation) return fail("unavailable");
    navigator.geolocation.getCurrentPosition(
      function (p) { search(p.coords.latitude, p.coords.longitude, "wgs84"); },
      function (e) { fail(e.code === 1 ? "denied" : e.code === 3 ? "timeout" : "unavailable"); },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  }

  // While this waits (up to 15 s) the type chips, the search box and the district picker all work.
  function locate() {
    setStatus("正在获取你的位置…（也可以直接在下方搜索或选择区县）");
    app.dataset.locating = "1";
    if (reasonEl) reasonEl.hidden = true;
    if (locateBtn) locateBtn.hidden = true;
    C.wxReady(wxOptions).then(function (w) {
      if (!w) return browserLocate();
      w.getLocation({
        type: "gcj02",
        success: function (r) { search(r.latitude, r.longitude, "gcj02"); },
        cancel: function () { fail("denied"); },
        fail: function () { browserLocate(); },
      });
    });
  }

  function checked(name) {
    if (!filters) return [];
    return Array.prototype.map.call(filters.querySelectorAll("input[name=" + name + "]:checked"), function (i) {
      return i.value;
    });
  }

  /** A problem answer as the rider should read it: 429 with its wait, otherwise the problem's detail_zh. */
  function problemText(r) {
    if (r.status === 429) {
      var wait = parseInt(r.headers.get("Retry-After") || "", 10);
      return Promise.resolve("查询太频繁，请稍后再试" + (wait > 0 ? "（约 " + wait + " 秒后）" : "") + "。");
    }
    return r.json().then(function (p) {
      return p && p.detail_zh ? p.detail_zh : "查询失败（" + r.status + "），请稍后再试。";
    }, function () { return "查询失败（" + r.status + "），请稍后再试。"; });
  }

  function search(lat, lng, coord) {
    position = { lat: lat, lng: lng, coord: coord };
    delete app.dataset.locating;
    setStatus("正在查找附近的站点…");
    var qs = "lat=" + lat + "&lng=" + lng + "&coord=" + coord + "&k=10";
    checked("amenity").forEach(function (a) { qs += "&amenity=" + encodeURIComponent(a); });
    checked("type").forEach(function (t) { qs += "&type=" + encodeURIComponent(t); });
    var openNow = filters && filters.querySelector("input[name=open_now]");
    if (openNow && openNow.checked) qs += "&open_now=true";
    var mine = pending = {};
    fetch(D.api + "?" + qs, { headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.ok) return r.json();
        return problemText(r).then(function (text) { var e = new Error(text); e.zh = text; throw e; });
      })
      .then(function (body) { if (mine === pending) render(body.stations || []); })
      .catch(function (e) {
        if (mine !== pending) return;
        setStatus(e && e.zh ? e.zh : "查询失败，请检查网络后重试。");
        app.dataset.problem = e && e.zh ? "1" : "network";
        if (locateBtn) { locateBtn.textContent = "重试"; locateBtn.hidden = false; }
      });
  }

  // -- the list (before any map tile): a compact row per station, details on demand ---------------
  function minutes(m, perMin) { return Math.max(1, Math.ceil((m * 1.3) / perMin)); } // straight line x 1.3 for streets (the one definition; tests/test_rider_browser.py)

  function stationNode(s, i) {
    var li = el("li", "station");
    li.dataset.id = s.id;
    li.id = "st-" + i;
    var num = el("span", "num", String(i + 1));
    num.setAttribute("aria-hidden", "true");
    li.appendChild(num);
    var main = el("div", "main");
    var a = el("a", "station-name", s.name);
    a.href = D.stationBase + encodeURIComponent(s.id);
    main.appendChild(a);
    var d = s.distance_m || 0;
    var meta = el("p", "meta");
    meta.appendChild(el("span", "type type-" + s.type, C.typeText(s)));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("b", "dist", C.distanceText(d)));
    meta.appendChild(el("span", "ride", " · 骑行约 " + minutes(d, 250) + " 分钟"));
    meta.appendChild(el("span", "walk", " · 步行约 " + minutes(d, 80) + " 分钟"));
    if (!D.sample && C.isSample(s)) meta.appendChild(el("span", "sample-mark", "示意位置"));
    main.appendChild(meta);
    var line = el("p", "line");
    line.appendChild(C.stateNode(s));
    line.appendChild(document.createTextNode(" "));
    line.appendChild(el("span", "hours", s.hours_text));
    main.appendChild(line);
    li.appendChild(main);
    li.appendChild(C.navNode(s));
    return li;
  }

  function render(stations) {
    shown = stations;
    results.textContent = "";
    stations.forEach(function (s, i) { results.appendChild(stationNode(s, i)); });
    var only = checked("type");
    var what = only.length === 1 ? C.typeText(stations[0] || { type_label: null }) || "站点" : "站点";
    setStatus(stations.length ? "离你最近的 " + stations.length + " 个" + what + "：" : "附近没有符合条件的站点。");
    if (locateBtn) { locateBtn.textContent = "重新定位"; locateBtn.hidden = false; }
    app.dataset.ready = "1";
    if (stations.length) drawMap(stations);
  }

  // -- the small map near the top: numbered like the list, Leaflet fetched after the list ------------
  var PI = Math.PI, A = 6378245.0, EE = 0.00669342162296594323;
  function tLat(x, y) {
    var r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += ((20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2) / 3;
    r += ((20 * Math.sin(y * PI) + 40 * Math.sin((y / 3) * PI)) * 2) / 3;
    return r + ((160 * Math.sin((y / 12) * PI) + 320 * Math.sin((y * PI) / 30)) * 2) / 3;
  }
  function tLng(x, y) {
    var r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += ((20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2) / 3;
    r += ((20 * Math.sin(x * PI) + 40 * Math.sin((x / 3) * PI)) * 2) / 3;
    return r + ((150 * Math.sin((x / 12) * PI) + 300 * Math.sin((x / 30) * PI)) * 2) / 3;
  }
  function wgsToGcj(lng, lat) {
    if (lng < 72.004 || lng > 137.8347 || lat < 0.8293 || lat > 55.8271) return [lng, lat];
    var rad = (lat / 180) * PI, m = 1 - EE * Math.sin(rad) * Math.sin(rad), sm = Math.sqrt(m);
    var dLat = (tLat(lng - 105, lat - 35) * 180) / (((A * (1 - EE)) / (m * sm)) * PI);
    var dLng = (tLng(lng - 105, lat - 35) * 180) / ((A / sm) * Math.cos(rad) * PI);
    return [lng + dLng, lat + dLat];
  }
  function gcjToWgs(lng, lat) {
    var x = lng, y = lat;
    for (var i = 0; i < 4; i++) { var g = wgsToGcj(x, y); x -= g[0] - lng; y -= g[1] - lat; }
    return [x, y];
  }
  window.__riderCoords = { wgsToGcj: wgsToGcj, gcjToWgs: gcjToWgs }; // for tests

  var leaflet = null;
  function loadLeaflet() {
    if (leaflet) return leaflet;
    leaflet = new Promise(function (resolve, reject) {
      var css = document.createElement("link");
      css.rel = "stylesheet"; css.href = D.leafletCss;
      document.head.appendChild(css);
      var s = document.createElement("script");
      s.src = D.leafletJs;
      s.onload = function () {
        var L = window.L;
        // Leaflet 1.9's default attribution prefix carries a national flag; name Leaflet plainly.
        L.Control.Attribution.prototype.options.prefix = '<a href="https://leafletjs.com">Leaflet</a>';
        L.Control.Zoom.prototype.options.zoomInTitle = "放大";
        L.Control.Zoom.prototype.options.zoomOutTitle = "缩小";
        resolve(L);
      };
      s.onerror = reject;
      document.head.appendChild(s);
    });
    return leaflet;
  }

  function openCard(i, node) {
    var s = shown[i];
    if (!s || !sheet) return;
    sheet.open(s.name, C.card(s, { stationPage: D.stationBase + "__ID__", markSample: !D.sample, feedback: D.feedback }),
               node, document.activeElement === node);
  }

  // Show the nearest few with the rider, and never two numbered markers on top of each other (a tap on "1"
  // must not land on "2"): fit the first four; if two of them would still cover each other, zoom in while
  // they stay in view, else show one fewer (street level at most).
  function fitNearest(L, pts, me) {
    var opts = { paddingTopLeft: [30, 30], paddingBottomRight: [30, 50], maxZoom: 18, animate: false };
    var ll = pts.map(function (p) { return L.latLng(p[1], p[0]); });
    function crowded(near) {
      for (var a = 0; a < near.length; a++) for (var b = a + 1; b < near.length; b++) {
        if (map.latLngToContainerPoint(near[a]).distanceTo(map.latLngToContainerPoint(near[b])) < 46) return true;
      }
      return false;
    }
    function inView(near) {
      var box = map.getBounds();
      return near.every(function (p) { return box.contains(p); });
    }
    for (var k = Math.min(4, ll.length); k >= 1; k--) {
      var near = ll.slice(0, k), box = L.latLngBounds(near.concat([L.latLng(me[1], me[0])]));
      map.fitBounds(box, opts);
      if (map.getZoom() > 16 && k > 1) map.setZoom(16, { animate: false });
      while (crowded(near) && map.getZoom() < 18) {
        map.setView(L.latLngBounds(near).getCenter(), map.getZoom() + 1, { animate: false });
        if (!inView(near)) break;
      }
      if (!crowded(near) && inView(near)) return;
    }
  }

  function drawMap(stations) {
    if (!mapEl || !position) return;
    var gcj = D.tileCrs !== "wgs84";
    var here = position;
    var me = here.coord === "gcj02"
      ? (gcj ? [here.lng, here.lat] : gcjToWgs(here.lng, here.lat))
      : (gcj ? wgsToGcj(here.lng, here.lat) : [here.lng, here.lat]);
    var pts = stations.map(function (s) {
      var w = s.navigation.wechat_open_location;
      return gcj ? [w.longitude, w.latitude] : [s.location_wgs84.lng, s.location_wgs84.lat];
    });
    if (mapBox) mapBox.hidden = false;  // its height is fixed: the list below does not jump when tiles come
    loadLeaflet().then(function (L) {
      if (!map) {
        map = L.map(mapEl, { zoomControl: false, attributionControl: true });  // pinch or double-tap to zoom: buttons would cover a 150 px map
        if (D.tiles) {
          L.tileLayer(D.tiles, { subdomains: "1234", maxZoom: 18, attribution: gcj ? "© 高德地图" : "" }).addTo(map);
        }
        sheet = C.sheet(mapEl);
        L.DomEvent.disableClickPropagation(sheet.el);
        L.DomEvent.disableScrollPropagation(sheet.el);
      }
      sheet.close();
      if (layer) layer.remove();
      layer = L.layerGroup().addTo(map);
      var bounds = [[me[1], me[0]]];
      L.circleMarker([me[1], me[0]], { radius: 9, color: "#fff", weight: 3, fillColor: "#0d47a1",
                                       fillOpacity: 1, interactive: false }).addTo(layer);
      pts.forEach(function (p, i) {
        var mk = L.marker([p[1], p[0]], {
          icon: L.divIcon({ className: "rm-marker", html: '<span class="rm-num">' + (i + 1) + "</span>",
                            iconSize: [44, 44], iconAnchor: [22, 22] }),
          keyboard: true, zIndexOffset: 1000 - i,
        });
        mk.on("click", function () { openCard(i, mk.getElement()); });
        mk.on("add", function () {
          var node = mk.getElement();
          node.setAttribute("aria-label", (i + 1) + "号：" + stations[i].name);
          node.addEventListener("keydown", function (e) {
            if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openCard(i, node); }
          });
        });
        mk.addTo(layer);
        bounds.push([p[1], p[0]]);
      });
      map.invalidateSize();
      fitNearest(L, pts, me);
      mapEl.dataset.ready = "1";
    }).catch(function () { if (mapBox) mapBox.hidden = true; });
  }

  var mapToggle = $("map-toggle");
  if (mapToggle && mapBox) {
    mapToggle.addEventListener("click", function () {
      var open = mapToggle.getAttribute("aria-expanded") === "true";
      mapToggle.setAttribute("aria-expanded", open ? "false" : "true");
      mapToggle.textContent = open ? "展开地图" : "收起地图";
      mapBox.classList.toggle("collapsed", open);
      if (!open && map) setTimeout(function () { map.invalidateSize(); }, 50);
    });
  }

  // -- start ------------------------------------------------------------------------------------
  if (filters) {
    filters.addEventListener("change", function () {
      if (position) search(position.lat, position.lng, position.coord);
      else if (D.mode === "list") filters.submit();
    });
  }
  if (locateBtn) locateBtn.addEventListener("click", locate);
  // The station page: 这里可用 and 报告问题 (the same controls as the card; 信息更新于 is in the page).
  var feedback = $("feedback");
  if (feedback && D.feedback) feedback.appendChild(C.feedbackNode(feedback.dataset.id, D.feedback));
  var printBtn = $("print-btn");
  if (printBtn) {
    printBtn.hidden = false;
    printBtn.addEventListener("click", function () { window.print(); });
  }
  if (D.mode === "locate") locate();
  else {
    if (locateBtn && D.mode === "list") locateBtn.hidden = false;
    C.wxReady(wxOptions);
  }
})();
