"""``GET /t.js``: the page tag for the customer's own site (docs/tracking.md has the snippet).

What it does in the visitor's browser, in plain ES5 with no dependency:

- keeps a random visitor id in a first-party cookie ``_nvid`` (on the site's own domain; the
  tracking server sets no cookie at all), and the visitor token of a tracked click, taken from
  the landing URL's ``_nv`` parameter, in the first-party cookie ``_nv``; then removes ``_nv``
  from the address bar (``history.replaceState``), so a copied URL does not carry it;
- reports the page view at once (``kind: "view"``: URL, title, referrer) and the time the page
  was visible when it is hidden or left (``kind: "time"``, on ``visibilitychange`` and
  ``pagehide``), with ``navigator.sendBeacon`` (``fetch`` with ``keepalive`` where there is no
  sendBeacon) to ``/collect`` beside the script's own URL;
- adds the visitor id as a hidden ``_nvid`` field to forms posting to this server's ``/f/``, so
  a form submission identifies the visitor too;
- with ``data-wait-consent`` on its script element, does nothing until the site calls
  ``window.nurtureConsent()`` (for sites that ask before analytics cookies).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

TAG_JS = r"""/* nurture-engine page tag: docs/tracking.md */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.JSON || !window.URLSearchParams || !window.crypto) { return; }
  var base = script.src.replace(/\/t\.js(?:[?#].*)?$/, "");
  var endpoint = base + "/collect";
  var DAYS = 180;
  var ID = /^[A-Za-z0-9_-]{22}$/;
  var TOKEN = /^[A-Za-z0-9_-]{4,180}\.[A-Za-z0-9_-]{22}$/;
  var started = false;

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (eq > 0 && parts[i].slice(0, eq) === name) { return parts[i].slice(eq + 1); }
    }
    return null;
  }

  function writeCookie(name, value) {
    document.cookie = name + "=" + value + "; Max-Age=" + (DAYS * 86400) +
      "; Path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    var text = "";
    window.crypto.getRandomValues(bytes);
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function start() {
    if (started) { return; }
    started = true;
    var params = new URLSearchParams(location.search);
    var landed = params.get("_nv");
    if (landed !== null) {
      if (TOKEN.test(landed)) { writeCookie("_nv", landed); }
      params["delete"]("_nv");
      var rest = params.toString();
      try {
        history.replaceState(history.state, "",
          location.pathname + (rest ? "?" + rest : "") + location.hash);
      } catch (e) { /* a sandboxed page: keep the URL */ }
    }
    var visitor = readCookie("_nvid");
    if (!visitor || !ID.test(visitor)) { visitor = randomId(); }
    writeCookie("_nvid", visitor);
    var token = readCookie("_nv");
    if (token && !TOKEN.test(token)) { token = null; }

    var view = randomId();
    var page = location.href.split("#")[0];
    var title = (document.title || "").slice(0, 300);
    var referrer = document.referrer || "";
    var shownAt = document.visibilityState === "hidden" ? null : Date.now();
    var shown = 0;
    var reported = -1;

    function send(kind) {
      var body = {kind: kind, visitor: visitor, view: view, url: page};
      if (token) { body.token = token; }
      if (title) { body.title = title; }
      if (kind === "view" && referrer) { body.referrer = referrer.slice(0, 2000); }
      if (kind === "time") { body.seconds = Math.min(86400, Math.round(shown / 1000)); }
      var text = JSON.stringify(body);
      try {
        if (navigator.sendBeacon && navigator.sendBeacon(endpoint, text)) { return; }
      } catch (e) { /* fall through to fetch */ }
      try {
        fetch(endpoint, {method: "POST", body: text, keepalive: true, mode: "cors",
                         credentials: "omit", headers: {"Content-Type": "text/plain"}});
      } catch (e) { /* tracking never breaks the page */ }
    }

    function hidden() {
      if (shownAt !== null) { shown += Date.now() - shownAt; shownAt = null; }
      var seconds = Math.round(shown / 1000);
      if (seconds !== reported) { reported = seconds; send("time"); }
    }

    function tagForms() {
      var forms = document.getElementsByTagName("form");
      for (var i = 0; i < forms.length; i++) {
        var action = forms[i].action || "";
        if (action.indexOf(base + "/f/") !== 0 || forms[i].querySelector("input[name=_nvid]")) {
          continue;
        }
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "_nvid";
        input.value = visitor;
        forms[i].appendChild(input);
      }
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") { hidden(); }
      else if (shownAt === null) { shownAt = Date.now(); }
    });
    window.addEventListener("pagehide", hidden);
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", tagForms);
    } else {
      tagForms();
    }
    send("view");
  }

  if (script.hasAttribute("data-wait-consent")) {
    window.nurtureConsent = start;
  } else {
    start();
  }
})();
"""


async def script(request: Request) -> Response:
    return Response(TAG_JS, media_type="text/javascript; charset=utf-8",
                    headers={"cache-control": "public, max-age=3600"})
