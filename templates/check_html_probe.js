// Injected by `make check-html` (report/check_html.py) into a copy of the report: counts the
// images that failed to load and records the page height for a full-page screenshot.
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !img.complete || img.naturalWidth === 0; });
  document.body.setAttribute("data-images-total", String(images.length));
  document.body.setAttribute("data-images-broken", String(broken.length));
  document.body.setAttribute("data-page-height", String(document.documentElement.scrollHeight));
  broken.forEach(function (img) { console.error("image did not load: " + (img.alt || img.src.slice(0, 60))); });
});
