/* The 360 page's log-an-interaction form: say which type "Usual for the channel" stands for,
 * and show the free "Other type" box only when "Other…" is picked. Works without it too. */
(function () {
  "use strict";

  function setup(form) {
    var usual = JSON.parse(form.dataset.usualTypes || "{}");
    var channel = form.querySelector("[name=channel]");
    var type = form.querySelector("[name=type]");
    var other = form.querySelector(".field-other_type");
    var hint = form.querySelector(".usual-type");
    if (!channel || !type) return;

    function update() {
      var name = channel.options[channel.selectedIndex] ? channel.options[channel.selectedIndex].text : "";
      if (hint) hint.textContent = type.value === "" && usual[channel.value] ? "Usual for " + name + ": " + usual[channel.value] : "";
      if (other) other.hidden = type.value !== "other" && !other.querySelector(".error");
    }
    channel.addEventListener("change", update);
    type.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.log-interaction").forEach(setup);
  });
})();
