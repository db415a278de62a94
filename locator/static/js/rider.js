/* The rider page: locate (WeChat JS-SDK or the browser), list the nearest stations, draw a small map,
   navigate. Station text only ever goes through textContent. The rider's position lives in this closure:
   it is sent to the nearest endpoint only and never stored. */
(function () {
  "use strict";
  var app = document.getElementById("app");
  if (!app) return;
  var D = app.dataset;
  var ua = navigator.userAgent || "";
  var inWeChat = /MicroMessenger/i.test(ua);
  // Mini-program web-view: the same JS-SDK calls (getLocation/openLocation) work there, so no
  // wx.miniProgram.navigateTo round-trip to a native page is needed.
  var inMiniProgram = window.__wxjs_environment === "miniprogram" || /miniProgram/i.test(ua);
  var REASONS = {
    denied: "你拒绝了位置授权（可在浏览器或微信的设置里重新允许）。",
    unavailable: "暂时无法获取你的位置（定位服务不可用）。",
    timeout: "定位超时。",
    insecure: "当前页面不是 HTTPS 安全连接，浏览器不允许定位。",
  };
  var $ = function (id) { return document.getElementById(id); };
  var statusEl = $("status"), reasonEl = $("reason"), fallback = $("fallback"), results = $("results");
  var locateBtn = $("locate-btn"), mapEl = $("map"), filters = $("filters");
  var wx = null, wxPromise = null, position = null, map = null, layer = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function setStatus(text) { if (statusEl) statusEl.textContent = text; }

  // -- WeChat JS-SDK: only inside WeChat and only when the server has an AppID ------------------
  function wxReady() {
    if (wxPromise) return wxPromise;
    wxPromise = new Promise(function (resolve) {
      if (!(inWeChat || inMiniProgram) || !D.wechat) return resolve(null);
      var done = function (v) { resolve(v); resolve = function () {}; };
      setTimeout(function () { done(null); }, 8000);
      fetch("/api/v1/wechat/jssdk-config?url=" + encodeURIComponent(location.href.split("#")[0]))
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (cfg) {
          if (!cfg) return done(null);
          var s = document.createElement("script");
          s.src = D.jssdk;
          s.onerror = function () { done(null); };
          s.onload = function () {
            var w = window.wx;
            if (!w) return done(null);
            w.config({ debug: false, appId: cfg.appId, timestamp: cfg.timestamp, nonceStr: cfg.nonceStr,
                       signature: cfg.signature, jsApiList: ["getLocation", "openLocation"] });
            w.ready(function () { wx = w; done(w); });
            w.error(function () { done(null); });
          };
          document.head.appendChild(s);
        })
        .catch(function () { done(null); });
    });
    return wxPromise;
  }

  // -- navigation: wx.openLocation in WeChat, map-app links elsewhere -----------------------------
  document.addEventListener("click", function (ev) {
    var summary = ev.target.closest && ev.target.closest("details.nav > summary");
    if (!summary || !wx) return;
    ev.preventDefault();
    var d = summary.parentNode.dataset;
    wx.openLocation({ latitude: parseFloat(d.lat), longitude: parseFloat(d.lng), name: d.name,
                      address: d.address, scale: 16 });
  });

  // -- locating ---------------------------------------------------------------------------------
  function fail(reason) {
    position = null;
    setStatus("未能定位。");
    if (reasonEl) {
      reasonEl.textContent = "无法获取位置：" + REASONS[reason] + "请在下方按区县查找或搜索驿站。";
      reasonEl.dataset.reason = reason;
      reasonEl.hidden = false;
    }
    if (fallback) fallback.hidden = false;
    if (locateBtn) { locateBtn.textContent = "📍 重新定位"; locateBtn.hidden = false; }
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

  function locate() {
    setStatus("正在获取你的位置…");
    if (reasonEl) reasonEl.hidden = true;
    if (fallback) fallback.hidden = true;
    if (locateBtn) locateBtn.hidden = true;
    wxReady().then(function (w) {
      if (!w) return browserLocate();
      w.getLocation({
        type: "gcj02",
        success: function (r) { search(r.latitude, r.longitude, "gcj02"); },
        cancel: function () { fail("denied"); },
        fail: function () { browserLocate(); },
      });
    });
  }

  function chosenAmenities() {
    if (!filters) return [];
    return Array.prototype.map.call(filters.querySelectorAll("input[name=amenity]:checked"), function (i) {
      return i.value;
    });
  }

  function search(lat, lng, coord) {
    position = { lat: lat, lng: lng, coord: coord };
    setStatus("正在查找附近的驿站…");
    var qs = "lat=" + lat + "&lng=" + lng + "&coord=" + coord + "&k=10";
    chosenAmenities().forEach(function (a) { qs += "&amenity=" + encodeURIComponent(a); });
    var openNow = filters && filters.querySelector("input[name=open_now]");
    if (openNow && openNow.checked) qs += "&open_now=true";
    fetch(D.api + "?" + qs, { headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (body) { render(body.stations || []); })
      .catch(function () {
        setStatus("查询失败，请检查网络后重试。");
        if (locateBtn) { locateBtn.textContent = "📍 重试"; locateBtn.hidden = false; }
        if (fallback) fallback.hidden = false;
      });
  }

  // -- the list (before any map tile) -----------------------------------------------------------
  function distanceText(m) { return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(1) + " 公里"; }
  function minutes(m, perMin) { return Math.max(1, Math.ceil((m * 1.3) / perMin)); } // straight line x 1.3 for streets (the one definition; tests/test_rider_browser.py)

  function statusNode(s) {
    if (s.status === "temporarily_closed")
      return el("span", "status status-paused", "暂停开放" + (s.closed_until ? "（至 " + s.closed_until + "）" : ""));
    if (s.status === "closed") return el("span", "status status-closed", "已关闭");
    if (s.open_now) return el("span", "status status-open", "营业中");
    var t = "未营业";
    var m = /^\d{4}-(\d{2})-(\d{2})T(\d{2}:\d{2})/.exec(s.next_open || "");
    if (m) t += " · " + parseInt(m[1], 10) + "月" + parseInt(m[2], 10) + "日 " + m[3] + " 开放";
    return el("span", "status status-shut", t);
  }

  function navNode(s) {
    var n = s.navigation, w = n.wechat_open_location;
    var det = el("details", "nav");
    det.dataset.lat = w.latitude; det.dataset.lng = w.longitude;
    det.dataset.name = w.name; det.dataset.address = w.address || "";
    det.appendChild(el("summary", "button", "导航"));
    var links = el("div", "nav-links");
    [["amap", "高德地图"], ["baidu", "百度地图"], ["tencent", "腾讯地图"]].forEach(function (p) {
      var a = el("a", "button secondary nav-" + p[0], p[1]);
      a.href = n[p[0]]; a.rel = "noopener";
      links.appendChild(a);
    });
    det.appendChild(links);
    return det;
  }

  function stationNode(s, i) {
    var li = el("li", "station");
    li.dataset.id = s.id;
    li.id = "st-" + i;
    var a = el("a", "station-name", s.name);
    a.href = D.stationBase + encodeURIComponent(s.id);
    li.appendChild(a);
    var d = s.distance_m || 0;
    li.appendChild(el("p", "line meta", distanceText(d) + " · 步行约 " + minutes(d, 80) + " 分钟 · 骑行约 " +
                      minutes(d, 250) + " 分钟"));
    var line = el("p", "line");
    line.appendChild(statusNode(s));
    line.appendChild(document.createTextNode(" "));
    line.appendChild(el("span", "hours", s.hours_text));
    li.appendChild(line);
    li.appendChild(el("p", "address", s.address));
    if (s.amenities && s.amenities.length) {
      var ul = el("ul", "amenities");
      s.amenities.forEach(function (am) {
        var x = el("li", "amenity amenity-" + am.key);
        var icon = el("span", "icon", am.icon);
        icon.setAttribute("aria-hidden", "true");
        x.appendChild(icon);
        x.appendChild(document.createTextNode(am.zh));
        ul.appendChild(x);
      });
      li.appendChild(ul);
    }
    li.appendChild(navNode(s));
    return li;
  }

  function render(stations) {
    results.textContent = "";
    stations.forEach(function (s, i) { results.appendChild(stationNode(s, i)); });
    setStatus(stations.length ? "离你最近的 " + stations.length + " 个驿站：" : "附近没有符合条件的驿站。");
    if (locateBtn) { locateBtn.textContent = "📍 重新定位"; locateBtn.hidden = false; }
    if (fallback) fallback.hidden = false;
    app.dataset.ready = "1";
    if (stations.length) drawMap(stations);
  }

  // -- the small map: Leaflet is fetched only after the list is on screen ------------------------
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
      var base = "/static/vendor/leaflet-1.9.4/";
      var css = document.createElement("link");
      css.rel = "stylesheet"; css.href = base + "leaflet.css";
      document.head.appendChild(css);
      var s = document.createElement("script");
      s.src = base + "leaflet.js";
      s.onload = function () {
        // Leaflet 1.9's default attribution prefix carries a national flag; name Leaflet plainly.
        window.L.Control.Attribution.prototype.options.prefix = '<a href="https://leafletjs.com">Leaflet</a>';
        resolve(window.L);
      };
      s.onerror = reject;
      document.head.appendChild(s);
    });
    return leaflet;
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
    loadLeaflet().then(function (L) {
      mapEl.hidden = false;
      if (!map) {
        map = L.map(mapEl, { zoomControl: true, attributionControl: true });
        if (D.tiles) {
          L.tileLayer(D.tiles, { subdomains: "1234", maxZoom: 18, attribution: gcj ? "© 高德地图" : "" }).addTo(map);
        }
      }
      if (layer) layer.remove();
      layer = L.layerGroup().addTo(map);
      var bounds = [[me[1], me[0]]];
      pts.forEach(function (p, i) {
        var mk = L.circleMarker([p[1], p[0]], { radius: 10, color: "#fff", weight: 2, fillColor: "#b71c1c",
                                                 fillOpacity: 1 }).addTo(layer);
        mk.on("click", function () {
          var item = $("st-" + i);
          if (item) item.scrollIntoView({ behavior: "smooth", block: "center" });
        });
        bounds.push([p[1], p[0]]);
      });
      L.circleMarker([me[1], me[0]], { radius: 9, color: "#fff", weight: 3, fillColor: "#0d47a1",
                                       fillOpacity: 1 }).addTo(layer);
      map.fitBounds(bounds.slice(0, 4), { padding: [24, 24], maxZoom: 16 });
      mapEl.dataset.ready = "1";
    }).catch(function () { mapEl.hidden = true; });
  }

  // -- start ------------------------------------------------------------------------------------
  if (filters) {
    filters.addEventListener("change", function () {
      if (position) search(position.lat, position.lng, position.coord);
      else filters.submit();
    });
  }
  if (locateBtn) locateBtn.addEventListener("click", locate);
  var printBtn = $("print-btn");
  if (printBtn) {
    printBtn.hidden = false;
    printBtn.addEventListener("click", function () { window.print(); });
  }
  if (D.mode === "locate") locate();
  else {
    if (locateBtn && D.mode === "list") locateBtn.hidden = false;
    wxReady();
  }
})();
