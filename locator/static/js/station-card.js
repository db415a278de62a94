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

  // -- riders' feedback: 信息更新于, 这里可用 (one tap), 报告问题 (a tap, then a kind: sent) -------------------
  var REPORT_KINDS = [["closed", "已关闭"], ["moved", "搬走了"], ["wrong_location", "位置不对"],
                      ["amenities", "设施不符"], ["other", "其他"]];
  var STALE_DAYS = 180;  // catalogue.STALE_AFTER_DAYS: older information is 待核实

  /** "11月30日" this year, "2025年3月1日" before (Asia/Shanghai), as the pages' checked_zh filter writes it. */
  function checkedText(iso) {
    var t = Date.parse(iso || "");
    if (isNaN(t)) return "";
    var d = new Date(t + SHANGHAI_MS).toISOString(), year = d.slice(0, 4);
    var md = parseInt(d.slice(5, 7), 10) + "月" + parseInt(d.slice(8, 10), 10) + "日";
    return year === shanghaiDate(0).slice(0, 4) ? md : year + "年" + md;
  }
  /** 信息更新于 …（待核实 when older than 180 days) for a station's verified_at (else its last change). */
  function checkedNode(s) {
    var iso = s.verified_at || s.updated_at, text = checkedText(iso);
    if (!text) return null;
    var stale = Date.now() - Date.parse(iso) > STALE_DAYS * 86400000;
    return el("p", "sc-checked" + (stale ? " sc-stale" : ""), "信息更新于 " + text + (stale ? " · 待核实" : ""));
  }

  function post(url, body) {
    var init = { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (answer) {
        if (r.ok) return answer;
        var wait = parseInt(r.headers.get("Retry-After") || "", 10);
        var text = r.status === 429
          ? "提交太频繁，请稍后再试" + (wait > 0 ? "（约 " + Math.ceil(wait / 60) + " 分钟后）" : "") + "。"
          : answer.detail_zh || "提交失败（" + r.status + "），请稍后再试。";
        throw new Error(text);
      });
    }, function () { throw new Error("发送失败，请检查网络后重试。"); });
  }

  /** 这里可用 and 报告问题 for station `id`; `base` is the station's API URL with __ID__ for the id.
   *  Two taps from the card to a sent report: 报告问题, then the kind (a note typed before is sent with it). */
  function feedbackNode(id, base) {
    var url = base.replace("__ID__", encodeURIComponent(id));
    var box = el("div", "sc-feedback");
    var said = el("p", "sc-fb-status");
    said.setAttribute("role", "status");
    said.setAttribute("aria-live", "polite");
    var ok = el("button", "secondary sc-confirm", "这里可用");
    ok.type = "button";
    ok.setAttribute("aria-label", "这里可用：我到过这里，驿站正常");
    ok.addEventListener("click", function () {
      ok.disabled = true;
      post(url + "/confirmations").then(function (a) {
        ok.textContent = "已确认";
        said.textContent = a.message_zh || "谢谢！已记录。";
      }, function (e) { ok.disabled = false; said.textContent = e.message; });
    });
    var report = el("details", "sc-report");
    report.appendChild(el("summary", "button secondary sc-report-open", "报告问题"));
    var panel = el("div", "sc-report-panel");
    panel.appendChild(el("p", "sc-report-hint", "选择遇到的问题，点一下即发送："));
    var kinds = el("div", "sc-kinds");
    var label = el("label", "sc-note-label", "补充说明（可不填，请勿写电话、姓名）");
    var note = el("input", "sc-note");
    note.type = "text";
    note.maxLength = 200;
    note.autocomplete = "off";
    label.appendChild(note);
    REPORT_KINDS.forEach(function (k) {
      var b = el("button", "sc-kind", k[1]);
      b.type = "button";
      b.dataset.kind = k[0];
      b.addEventListener("click", function () {
        var buttons = kinds.querySelectorAll("button");
        Array.prototype.forEach.call(buttons, function (x) { x.disabled = true; });
        said.textContent = "正在发送…";
        var text = note.value.trim();
        post(url + "/reports", text ? { kind: k[0], note: text } : { kind: k[0] }).then(function (a) {
          report.open = false;
          report.querySelector("summary").textContent = "已报告：" + k[1];
          report.classList.add("sc-reported");
          said.textContent = a.message_zh || "谢谢！组织者会尽快核实。";
        }, function (e) {
          Array.prototype.forEach.call(buttons, function (x) { x.disabled = false; });
          said.textContent = e.message;
        });
      });
      kinds.appendChild(b);
    });
    panel.appendChild(kinds);
    panel.appendChild(label);
    report.appendChild(panel);
    report.addEventListener("toggle", function () {
      if (report.open && panel.scrollIntoView) panel.scrollIntoView({ block: "nearest" });
    });
    var row = el("div", "sc-fb-actions");
    row.appendChild(ok);
    row.appendChild(report);
    box.appendChild(row);
    box.appendChild(said);
    return box;
  }

  /** The card: name, type, distance (when the answer has one), open state and hours, amenities,
   *  a sample mark (when the page has no banner), contact, 导航 and a link to the station page;
   *  with `opts.feedback` (the station API URL, __ID__ for the id) 信息更新于, 这里可用 and 报告问题. */
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
    var checked = checkedNode(s);
    if (checked) box.appendChild(checked);
    if (opts.feedback) box.appendChild(feedbackNode(s.id, opts.feedback));
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
    feedbackNode: feedbackNode, checkedNode: checkedNode, checkedText: checkedText,
  };
})();
