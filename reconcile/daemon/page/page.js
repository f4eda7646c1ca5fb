(function () {
  var main = document.getElementById("main"), live = document.getElementById("live");
  function show(html) { main.innerHTML = html; live.classList.add("on"); live.textContent = "live · " + new Date().toLocaleTimeString(); }
  function poll() {
    fetch("ui/fragment", {cache: "no-store"}).then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(show, function () { live.classList.remove("on"); live.textContent = "offline"; })
      .then(function () { setTimeout(poll, 5000); });
  }
  if (!window.EventSource) { poll(); return; }
  var es = new EventSource("ui/stream");
  es.addEventListener("update", function (e) { show(e.data); });
  es.onerror = function () {
    live.classList.remove("on");
    // A refused stream (the cap on streams) is closed for good: poll instead.
    if (es.readyState === EventSource.CLOSED) { poll(); }
  };
})();
