// Location picker: click or drag the marker; the lng/lat inputs follow (WGS-84 on OSM tiles).
(function () {
  var el = document.getElementById("picker");
  if (!el || !window.L) return;
  // Leaflet 1.9's default attribution prefix carries a national flag; our maps name Leaflet plainly.
  if (window.L) L.Control.Attribution.prototype.options.prefix = '<a href="https://leafletjs.com">Leaflet</a>';
  var lng = document.getElementById("lng");
  var lat = document.getElementById("lat");
  var crs = document.getElementById("crs");
  var start = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lng)];
  var map = L.map(el).setView(start, 14);
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: "&copy; OpenStreetMap contributors",
  }).addTo(map);
  var marker = L.marker(start, { draggable: true }).addTo(map);
  function put(p) {
    lng.value = p.lng.toFixed(7);
    lat.value = p.lat.toFixed(7);
    if (crs) crs.value = "wgs84";
  }
  marker.on("dragend", function () { put(marker.getLatLng()); });
  map.on("click", function (e) { marker.setLatLng(e.latlng); put(e.latlng); });
  function fromInputs() {
    var p = [parseFloat(lat.value), parseFloat(lng.value)];
    if (isFinite(p[0]) && isFinite(p[1]) && (!crs || crs.value === "wgs84")) { marker.setLatLng(p); map.panTo(p); }
  }
  lng.addEventListener("change", fromInputs);
  lat.addEventListener("change", fromInputs);
})();
