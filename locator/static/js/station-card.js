/* The station card shared by the maps and the rider page, and the WeChat JS-SDK set-up they share.
 * The card is built from the service's own station JSON (locator.serialize): every piece of station
 * text goes through textContent, never innerHTML (names and addresses come from spreadsheets). */
(function () {
  "use strict";
  var ua = navigator.userAgent || "";
  // Mini-program web-view: the same JS-SDK calls (getLocation/openLocation) work there.
  var inWeChat = /MicroMessenger/i.test(ua) || /miniProgram/i.test(ua) || window.__wxjs_environment === "miniprogram";
  var wx = null, wxPromise = null;
  var SHANGHAI_MS = 8 * 3600 * 1000;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // -- WeChat: config once, then navigation (openLocation) and the share menu --------------------
  function wxReady(opts) {
    if (wxPromise) return wxPromise;
    wxPromise = new Promise(function (resolve) {
      if (!inWeChat || !opts || !opts.enabled || !window.fetch) return resolve(null);
      var done = function (v) { resolve(v); resolve = function () {}; };
      setTimeout(function () { done(null); }, 8000);
      fetch((opts.configUrl || "/api/v1/wechat/jssdk-config") + "?url=" + encodeURIComponent(location.href.split("#")[0]))
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (cfg) {
          if (!cfg) return done(null);
          var s = document.createElement("script");
          s.src = opts.script;
          s.onerror = function () { done(null); };
          s.onload = function () {
            var w = window.wx;
            if (!w) return done(null);
            w.config({ debug: false, appId: cfg.appId, timestamp: cfg.timestamp, nonceStr: cfg.nonceStr,
                       signature: cfg.signature,
                       jsApiList: ["getLocation", "openLocation", "updateAppMessageShareData", "updateTimelineShareData"] });
            w.ready(function () {
              wx = w;
              var sh = opts.share;
              if (sh) {
                if (w.updateAppMessageShareData) w.updateAppMessageShareData({ title: sh.title, desc: sh.desc, link: sh.link, imgUrl: sh.imgUrl });
                if (w.updateTimelineShareData) w.updateTimelineShareData({ title: sh.title, link: sh.link, imgUrl: sh.imgUrl });
              }
              done(w);
            });
            w.error(function () { done(null); });
          };
          document.head.appendChild(s);
        })
        .catch(function () { done(null); });
    });
    return wxPromise;
  }

  // Inside WeChat (configured) 导航 opens WeChat's own map (GCJ-02); elsewhere it unfolds the map-app links.
  document.addEventListener("click", function (ev) {
    var summary = ev.target.closest && ev.target.closest("details.nav > summary");
    if (!summary || !wx) return;
    ev.preventDefault();
    var d = summary.parentNode.dataset;
    wx.openLocation({ latitude: parseFloat(d.lat), longitude: parseFloat(d.lng), name: d.name,
                      address: d.address, scale: 16 });
  });

  // -- wording -----------------------------------------------------------------------------------
  function shanghaiDate(offsetDays) {
    return new Date(Date.now() + SHANGHAI_MS + (offsetDays || 0) * 86400000).toISOString().slice(0, 10);
  }
  /** "今天 08:30" / "明天 08:30" / "12月3日 08:30" for an ISO time in Asia/Shanghai (+08:00). */
  function whenText(iso) {
    var m = /^(\d{4}-(\d{2})-(\d{2}))T(\d{2}:\d{2})/.exec(iso || "");
    if (!m) return "";
    if (m[1] === shanghaiDate(0)) return "今天 " + m[4];
    if (m[1] === shanghaiDate(1)) return "明天 " + m[4];
    return parseInt(m[2], 10) + "月" + parseInt(m[3], 10) + "日 " + m[4];
  }
  function dateText(iso) {
    var m = /^\d{4}-(\d{2})-(\d{2})/.exec(iso || "");
    return m ? parseInt(m[1], 10) + "月" + parseInt(m[2], 10) + "日" : "";
  }
  /** The open state as {text, cls}: 营业中 / 未营业 · 明天 08:30 开放 / 暂停开放（至 …） / 已关闭 /
      开放时间未知 (no hours known: never 营业中 nor 未营业; templates/pages/_macros.html says the same). */
  function state(s) {
    if (s.status === "temporarily_closed")
      return { text: "暂停开放" + (s.closed_until ? "（至 " + dateText(s.closed_until) + "）" : ""), cls: "status-paused" };
    if (s.status === "closed") return { text: "已关闭", cls: "status-closed" };
    if (!s.hours) return { text: "开放时间未知", cls: "status-unknown" };
    if (s.open_now) return { text: "营业中", cls: "status-open" };
    var when = whenText(s.next_open);
    return { text: "未营业" + (when ? " · " + when + " 开放" : ""), cls: "status-shut" };
  }
  function stateNode(s) {
    var st = state(s);
    return el("span", "status " + st.cls, st.text);
  }
  function distanceText(m) {
    return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(1) + " 公里";
  }
  function typeText(s) { return s.type_label ? s.type_label.zh : ""; }
  function isSample(s) { return s.provenance === "sample" || !!s.approximate; }

  /** A contact text with every phone number as a tel: link (text nodes only). */
  function contactNode(text) {
    var box = el("span", "contact");
    var re = /\+?\d[\d\- ]{5,}\d/g, last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) box.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el("a", "tel", m[0]);
      a.href = "tel:" + m[0].replace(/[^\d+]/g, "");
      box.appendChild(a);
      last = m.index + m[0].length;
    }
    if (last < text.length) box.appendChild(document.createTextNode(text.slice(last)));
    return box;
  }

  function navNode(s) {
    var n = s.navigation, w = n.wechat_open_location;
    var det = el("details", "nav");
    det.dataset.lat = w.latitude; det.dataset.lng = w.longitude;
    det.dataset.name = w.name; det.dataset.address = w.address || "";
    det.appendChild(el("summary", "button nav-button", "导航"));
    var links = el("div", "nav-links");
    [["amap", "高德地图"], ["baidu", "百度地图"], ["tencent", "腾讯地图"]].forEach(function (p) {
      var a = el("a", "button secondary nav-" + p[0], p[1]);
      a.href = n[p[0]]; a.rel = "noopener";
      links.appendChild(a);
    });
    det.appendChild(links);
    return det;
  }

  function amenityList(s) {
    var ul = el("ul", "amenities");
    (s.amenities || []).forEach(function (am) {
      var li = el("li", "amenity amenity-" + am.key);
      var icon = el("span", "icon", am.icon);
      icon.setAttribute("aria-hidden", "true");
      li.appendChild(icon);
      li.appendChild(document.createTextNode(am.zh));
      ul.appendChild(li);
    });
    return ul;
  }

  /** The card: name, type, distance (when the answer has one), open state and hours, amenities,
   *  a sample mark (when the page has no banner), contact, 导航 and a link to the station page. */
  function card(s, opts) {
    opts = opts || {};
    var box = el("div", "sc-card");
    box.dataset.id = s.id;
    box.appendChild(el("h2", "sc-name", s.name));
    var meta = el("p", "sc-meta");
    meta.appendChild(el("span", "sc-type type-" + s.type, typeText(s)));
    if (s.distance_m !== undefined && s.distance_m !== null) {
      meta.appendChild(document.createTextNode(" · "));
      meta.appendChild(el("span", "sc-distance", distanceText(s.distance_m)));
    }
    if (opts.markSample && isSample(s)) meta.appendChild(el("span", "sample-mark", "示意位置"));
    box.appendChild(meta);
    var line = el("p", "sc-state");
    line.appendChild(stateNode(s));
    if (s.hours) {  // unknown hours: the state already says 开放时间未知
      line.appendChild(document.createTextNode(" "));
      line.appendChild(el("span", "hours", s.hours_text));
    }
    box.appendChild(line);
    if (s.address) box.appendChild(el("p", "address", s.address));
    if (s.amenities && s.amenities.length) box.appendChild(amenityList(s));
    if (s.contact) {
      var c = el("p", "sc-contact", "联系：");
      c.appendChild(contactNode(s.contact));
      box.appendChild(c);
    }
    var actions = el("div", "sc-actions");
    if (s.navigation) actions.appendChild(navNode(s));
    if (opts.stationPage) {
      var a = el("a", "button secondary sc-more", "详情");
      a.href = opts.stationPage.replace("__ID__", encodeURIComponent(s.id));
      a.setAttribute("aria-label", "查看详情：" + s.name);
      actions.appendChild(a);
    }
    box.appendChild(actions);
    return box;
  }

  /** A bottom sheet inside `container` (a map), for a card or a list; Escape or 关闭 closes it. */
  function sheet(container) {
    var root = el("section", "sc-sheet");
    root.hidden = true;
    root.setAttribute("role", "dialog");
    root.setAttribute("aria-modal", "false");
    var close = el("button", "sc-close", "关闭");
    close.type = "button";
    var body = el("div", "sc-body");
    root.appendChild(close);
    root.appendChild(body);
    container.appendChild(root);
    var opener = null;
    function hide() {
      if (root.hidden) return;
      root.hidden = true;
      body.textContent = "";
      container.removeAttribute("data-card");
      var back = opener && opener.isConnected ? opener : container;
      opener = null;
      if (back && back.focus) back.focus();
    }
    close.addEventListener("click", hide);
    root.addEventListener("keydown", function (e) { if (e.key === "Escape") hide(); });
    return {
      el: root,
      open: function (label, node, from, focus) {
        if (from) opener = from;
        body.textContent = "";
        body.appendChild(node);
        root.setAttribute("aria-label", label);
        root.hidden = false;
        container.setAttribute("data-card", "open");
        if (focus) close.focus();
      },
      close: hide,
      isOpen: function () { return !root.hidden; },
    };
  }

  window.LocatorCard = {
    el: el, card: card, sheet: sheet, state: state, stateNode: stateNode, whenText: whenText,
    distanceText: distanceText, navNode: navNode, amenityList: amenityList, contactNode: contactNode,
    isSample: isSample, typeText: typeText, wxReady: wxReady, inWeChat: inWeChat,
  };
})();
