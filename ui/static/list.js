// The issue list's bulk form: "Select all" ticks every issue of the page,
// the action buttons are enabled only while some issue is ticked, and a
// count says how many are. Without this script the form still works:
// "Select all" is then a field of its own that the server reads.
(function () {
  var form = document.getElementById("bulk");
  if (!form) return;
  var all = document.getElementById("select-all");
  var boxes = form.querySelectorAll("input[name=issue]");
  var buttons = form.querySelectorAll("button[data-bulk]");
  var picked = document.getElementById("picked");
  // Buttons the tab never allows stay disabled.
  var allowed = [];
  buttons.forEach(function (b) { allowed.push(!b.disabled); });
  function update() {
    var n = 0;
    boxes.forEach(function (c) { if (c.checked) n++; });
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
    buttons.forEach(function (b, i) { b.disabled = !allowed[i] || n === 0; });
    picked.textContent = n ? n + " selected" : "";
  }
  all.addEventListener("change", function () {
    boxes.forEach(function (c) { c.checked = all.checked; });
    update();
  });
  boxes.forEach(function (c) { c.addEventListener("change", update); });
  // With the script the boxes say exactly what is picked: "all" must not
  // add the page's other issues on the server.
  all.removeAttribute("name");
  update();
})();
