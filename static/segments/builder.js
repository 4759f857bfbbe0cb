/* Segment builder: form controls that add conditions to the rules JSON, and a live preview
 * (count + sample) fetched from the segments preview endpoint with the session and CSRF token.
 * Plain JavaScript, no external library, no CDN. */
(function () {
  "use strict";

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function csrfToken(form) {
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return (input && input.value) || cookie("csrftoken");
  }

  function conditionFrom(builder) {
    var kind = builder.querySelector(".sb-kind").value;
    var q = function (sel) { return builder.querySelector(sel).value.trim(); };
    if (kind === "attr") {
      var op = q(".sb-op"), raw = q(".sb-value"), cond = { attr: q(".sb-attr"), op: op };
      if (op === "is_set" || op === "is_not_set") return cond;
      if (op === "in" || op === "not_in") {
        cond.value = raw.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
      } else if (op === "within_last_days" || op === "before_last_days") {
        cond.value = parseInt(raw, 10);
      } else {
        cond.value = raw !== "" && !isNaN(Number(raw)) && op !== "contains" ? Number(raw) : raw;
      }
      return cond;
    }
    if (kind === "events") {
      var events = { within_days: parseInt(q(".sb-days"), 10) || 90 };
      if (q(".sb-type")) events.type = q(".sb-type");
      if (q(".sb-channel")) events.channel = q(".sb-channel");
      var count = parseInt(q(".sb-count"), 10) || 1;
      return count > 1 ? { events: events, count: { op: "gte", value: count } } : { events: events };
    }
    if (kind === "consent") {
      return { consent: { channel: q(".sb-consent-channel"), purpose: q(".sb-consent-purpose") }, is: q(".sb-consent-is") };
    }
    if (kind === "survey") return { survey: { kind: "nps" }, latest_category: q(".sb-nps") };
    if (kind === "score") {
      var score = q(".sb-score"), scoreOp = q(".sb-score-op"), text = q(".sb-score-value");
      var condition = { score: score, op: scoreOp };
      if (scoreOp === "is_set" || scoreOp === "is_not_set") return condition;
      if (score === "rfm") {
        var cells = text.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
        condition.value = scoreOp === "in" || scoreOp === "not_in" ? cells : cells[0] || "";
      } else {
        condition.value = Number(text);
      }
      return condition;
    }
    return { segment: q(".sb-segment"), is: q(".sb-segment-is") };
  }

  function addCondition(textarea, condition) {
    var rules;
    try { rules = JSON.parse(textarea.value || "{}"); } catch (e) { rules = null; }
    if (!rules || Object.keys(rules).length === 0) rules = { all: [] };
    else if (!Array.isArray(rules.all)) rules = { all: [rules] };
    rules.all.push(condition);
    textarea.value = JSON.stringify(rules, null, 2);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function render(preview, state) {
    var status = preview.querySelector(".sp-status"), sample = preview.querySelector(".sp-sample");
    preview.classList.toggle("error", state.error !== undefined);
    sample.textContent = "";
    if (state.error !== undefined) { status.textContent = state.error; return; }
    if (state.loading) { status.textContent = "counting…"; return; }
    status.textContent = "";
    var count = document.createElement("span");
    count.className = "sp-count";
    count.textContent = state.count.toLocaleString();
    status.appendChild(count);
    status.appendChild(document.createTextNode(state.count === 1 ? " customer matches" : " customers match"));
    state.sample.forEach(function (c) {
      var li = document.createElement("li");
      var name = [c.first_name, c.last_name].join(" ").trim();
      li.textContent = "#" + c.id + " " + (name || c.email || c.phone || "") + (c.email && name ? " <" + c.email + ">" : "");
      sample.appendChild(li);
    });
  }

  function setup(builder) {
    var textarea = document.getElementById(builder.dataset.rulesInput);
    var preview = builder.querySelector(".segment-preview");
    var config = document.getElementById("segment-preview-config");
    var url = (config && config.dataset.previewUrl) || "/api/v1/segments/preview/";
    var form = textarea.form, parent = form && form.querySelector("[name=parent]");
    var kind = builder.querySelector(".sb-kind");
    var timer = null, seq = 0;

    kind.addEventListener("change", function () {
      builder.querySelectorAll(".sb-fields").forEach(function (el) { el.hidden = el.dataset.kind !== kind.value; });
    });
    builder.querySelector(".sb-add").addEventListener("click", function () {
      addCondition(textarea, conditionFrom(builder));
    });

    function refresh() {
      var rules;
      try { rules = JSON.parse(textarea.value); } catch (e) {
        render(preview, { error: "Not valid JSON yet: " + e.message }); return;
      }
      var body = { rules: rules };
      if (parent && parent.value) body.parent = parseInt(parent.value, 10);
      var mine = ++seq;
      render(preview, { loading: true });
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form), Accept: "application/json" },
        body: JSON.stringify(body)
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (result) {
        if (mine !== seq) return;  // a newer edit is already being previewed
        if (result.ok) render(preview, { count: result.data.count, sample: result.data.sample });
        else render(preview, { error: (result.data.error && result.data.error.message) || "Invalid rule" });
      }).catch(function () {
        if (mine === seq) render(preview, { error: "Preview unavailable (network error)." });
      });
    }

    function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 400); }
    textarea.addEventListener("input", schedule);
    if (parent) parent.addEventListener("change", schedule);
    if (textarea.value.trim() && textarea.value.trim() !== "{}") refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".segment-builder").forEach(setup);
  });
})();
