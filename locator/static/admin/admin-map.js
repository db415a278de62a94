/* The organizers' map of stations that need checking: a Leaflet map drawn by LocatorMap (locator-map.js) from
   the configuration the server put in data-config (JSON, read with JSON.parse: never run as script). */
(function () {
  "use strict";
  var box = document.getElementById("admin-map");
  if (!box || !window.L || !window.LocatorMap) return;
  var cfg = JSON.parse(box.getAttribute("data-config"));
  var map = L.map(box, { zoomControl: true, minZoom: cfg.minZoom });
  cfg.tiles.forEach(function (t) {
    L.tileLayer(t.url, { subdomains: t.subdomains, attribution: t.attribution, maxZoom: t.maxZoom }).addTo(map);
  });
  map.setView(cfg.center, 10);
  window.LocatorMap.init(map, cfg);
})();
