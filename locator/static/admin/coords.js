// WGS-84 <-> GCJ-02 <-> BD-09 in the page, the same formulas as locator/coords.py (Krasovsky ellipsoid,
// fixed-point inverses to 1e-9 degrees). The picker needs them to show a stored WGS-84 point on AMap's
// GCJ-02 tiles and to put a pasted GCJ-02 or BD-09 coordinate on the spot it names.
(function () {
  "use strict";
  var PI = Math.PI, A = 6378245.0, EE = 0.00669342162296594323, X_PI = PI * 3000.0 / 180.0;
  var TOL = 1e-9, ITER = 40;

  function inside(lng, lat) { return lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271; }

  function offset(lng, lat) {
    var x = lng - 105.0, y = lat - 35.0, s = Math.sin;
    var common = 20.0 * s(6.0 * x * PI) + 20.0 * s(2.0 * x * PI);
    var r = Math.sqrt(Math.abs(x));
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * r;
    dlat += (common + 20.0 * s(y * PI) + 40.0 * s(y / 3.0 * PI)) * 2.0 / 3.0;
    dlat += (160.0 * s(y / 12.0 * PI) + 320.0 * s(y * PI / 30.0)) * 2.0 / 3.0;
    var dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * r;
    dlng += (common + 20.0 * s(x * PI) + 40.0 * s(x / 3.0 * PI)) * 2.0 / 3.0;
    dlng += (150.0 * s(x / 12.0 * PI) + 300.0 * s(x / 30.0 * PI)) * 2.0 / 3.0;
    var rad = lat / 180.0 * PI, magic = 1.0 - EE * Math.pow(Math.sin(rad), 2), sm = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sm) * PI);
    dlng = (dlng * 180.0) / (A / sm * Math.cos(rad) * PI);
    return [dlng, dlat];
  }

  function wgsToGcj(lng, lat) {
    if (!inside(lng, lat)) return [lng, lat];
    var d = offset(lng, lat);
    return [lng + d[0], lat + d[1]];
  }

  function gcjToBd(x, y) {
    if (!inside(x, y)) return [x, y];
    var z = Math.hypot(x, y) + 0.00002 * Math.sin(y * X_PI);
    var t = Math.atan2(y, x) + 0.000003 * Math.cos(x * X_PI);
    return [z * Math.cos(t) + 0.0065, z * Math.sin(t) + 0.006];
  }

  function invert(forward, lng, lat, start) {
    if (!inside(lng, lat)) return [lng, lat];
    var x = start[0], y = start[1];
    for (var i = 0; i < ITER; i++) {
      var f = forward(x, y), ex = f[0] - lng, ey = f[1] - lat;
      x -= ex; y -= ey;
      if (Math.abs(ex) < TOL && Math.abs(ey) < TOL) break;
    }
    return [x, y];
  }

  function gcjToWgs(lng, lat) { return invert(wgsToGcj, lng, lat, [lng, lat]); }

  function bdToGcj(lng, lat) {
    var x = lng - 0.0065, y = lat - 0.006;
    var z = Math.hypot(x, y) - 0.00002 * Math.sin(y * X_PI);
    var t = Math.atan2(y, x) - 0.000003 * Math.cos(x * X_PI);
    return invert(gcjToBd, lng, lat, [z * Math.cos(t), z * Math.sin(t)]);
  }

  // A point given in `from` ("wgs84", "gcj02", "bd09") as it is written in `to`.
  function convert(lng, lat, from, to) {
    if (from === to) return [lng, lat];
    var gcj = from === "gcj02" ? [lng, lat] : from === "bd09" ? bdToGcj(lng, lat) : wgsToGcj(lng, lat);
    if (to === "gcj02") return gcj;
    if (to === "bd09") return gcjToBd(gcj[0], gcj[1]);
    return from === "wgs84" ? [lng, lat] : gcjToWgs(gcj[0], gcj[1]);
  }

  window.LocatorCoords = { wgsToGcj: wgsToGcj, gcjToWgs: gcjToWgs, gcjToBd: gcjToBd, bdToGcj: bdToGcj, convert: convert };
})();
