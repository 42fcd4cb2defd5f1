// Refreshes the reminder preview as the template is typed (the Preview button works without it).
// Posts the same form to /staff/template/preview and swaps in the answer's #preview section
// and the fields' error lines; nothing else on the page changes.
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  var email = document.getElementById("f-email");
  if (!form || !email || !window.fetch || !window.DOMParser) { return; }
  var timer = null;
  var latest = 0;
  function refresh() {
    if (!email.value.trim()) { return; }
    var ticket = ++latest;
    fetch("/staff/template/preview", { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (ticket !== latest) { return; }  // a newer request is on its way
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("preview");
        var current = document.getElementById("preview");
        if (fresh && current) { current.replaceWith(fresh); }
        ["subject", "text", "html"].forEach(function (name) {
          var here = document.getElementById("f-" + name);
          if (!here) { return; }
          var box = here.parentNode;
          box.querySelectorAll("p.error").forEach(function (p) { p.remove(); });
          var there = page.getElementById("f-" + name);
          var problems = there ? there.parentNode.querySelectorAll("p.error") : [];
          problems.forEach(function (p) { box.appendChild(document.importNode(p, true)); });
          box.classList.toggle("has-error", problems.length > 0);
        });
      })
      .catch(function () { /* the Preview button still works */ });
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  });
}());
