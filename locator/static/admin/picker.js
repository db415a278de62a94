// The location picker of the station form, on the configured basemap (AMap's GCJ-02 tiles by default).
// The marker stands where the coordinates in the form say, whatever system they are written in; a tap or
// a drag writes the basemap's own coordinates back with its system chosen, so the server converts once.
// A pasted pair ("120.699400,27.993900", as AMap's picker copies it) fills the two fields; when the two
// numbers could each be the longitude, the form asks which comes first. Tiles that fail show a notice.
(function () {
  "use strict";
  var el = document.getElementById("picker");
  var cfgEl = document.getElementById("picker-config");
  if (!el || !cfgEl || !window.L || !window.LocatorCoords) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var C = window.LocatorCoords;
  var lng = document.getElementById("lng"), lat = document.getElementById("lat");
  var crs = document.getElementById("crs"), pair = document.getElementById("pair");
  var order = document.getElementById("pair-order"), notice = document.getElementById("tiles-failed");
  L.Control.Attribution.prototype.options.prefix = "Leaflet";

  function onBase(x, y, from) { var p = C.convert(x, y, from, cfg.crs); return [p[1], p[0]]; }

  var start = cfg.station ? onBase(cfg.station[0], cfg.station[1], "wgs84") : onBase(cfg.start[0], cfg.start[1], "wgs84");
  var map = L.map(el, { zoomControl: true }).setView(start, cfg.station ? 16 : 12);
  var failed = 0, loaded = 0;
  cfg.tiles.forEach(function (t) {
    var layer = L.tileLayer(t.url, { subdomains: t.subdomains || "abc", attribution: t.attribution, maxZoom: t.maxZoom || 18 });
    layer.on("tileerror", function () {
      failed += 1;
      if (notice && loaded === 0) notice.hidden = false;
    });
    layer.on("tileload", function () { loaded += 1; if (notice) notice.hidden = true; });
    layer.addTo(map);
  });
  var marker = L.marker(start, { draggable: true, title: "站点位置", keyboard: true }).addTo(map);

  function show(p) {  // p: [lat, lng] on the basemap
    marker.setLatLng(p);
    el.dataset.markerLat = p[0].toFixed(7);
    el.dataset.markerLng = p[1].toFixed(7);
  }
  show(start);

  function put(p) {  // the organizer chose a place on the map: its coordinates in the basemap's system
    lng.value = p.lng.toFixed(6);
    lat.value = p.lat.toFixed(6);
    crs.value = cfg.crs;
    if (pair) pair.value = "";
    if (order) order.hidden = true;
    show([p.lat, p.lng]);
  }
  marker.on("dragend", function () { put(marker.getLatLng()); });
  map.on("click", function (e) { put(e.latlng); });

  function number(text) {
    var plain = String(text || "").replace(/[\uff10-\uff19\uff0e\uff0d]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    }).trim();
    return plain === "" ? NaN : Number(plain);
  }

  function fromFields() {
    var x = number(lng.value), y = number(lat.value);
    if (isFinite(x) && isFinite(y) && Math.abs(x) <= 180 && Math.abs(y) <= 90) {
      var p = onBase(x, y, crs.value || "wgs84");
      show(p);
      map.panTo(p);
    }
  }
  lng.addEventListener("change", fromFields);
  lat.addEventListener("change", fromFields);
  crs.addEventListener("change", fromFields);

  function chosenFirst() {
    var checked = document.querySelector("input[name=pair_first]:checked");
    return checked ? checked.value : "";
  }

  function fromPair() {
    var parts = String(pair.value || "").replace(/，/g, ",").split(/\s*[,;\s]\s*/).filter(Boolean);
    if (parts.length !== 2) return;
    var a = number(parts[0]), b = number(parts[1]);
    if (!isFinite(a) || !isFinite(b)) return;  // degrees-minutes-seconds: the server reads them on saving
    var first = Math.abs(a) > 90 && Math.abs(b) <= 90 ? "lng" : Math.abs(b) > 90 && Math.abs(a) <= 90 ? "lat" : chosenFirst();
    if (order) order.hidden = first !== "" && !(Math.abs(a) <= 90 && Math.abs(b) <= 90);
    if (!first) return;
    var x = first === "lng" ? a : b, y = first === "lng" ? b : a;
    lng.value = String(x);
    lat.value = String(y);
    fromFields();
  }
  if (pair) {
    pair.addEventListener("input", fromPair);
    document.querySelectorAll("input[name=pair_first]").forEach(function (r) { r.addEventListener("change", fromPair); });
  }
  if (!cfg.station && lng.value && lat.value) fromFields();  // a form shown again after an error
  else if (cfg.station && (crs.value !== "wgs84" || String(lng.value) !== String(cfg.station[0]))) fromFields();
})();
