/* Segment builder: the rule as a tree of groups (ALL / ANY, optionally NOT) and conditions edited
 * with form controls, kept in step with the raw JSON editor, and a live preview (count + sample)
 * fetched from the segments preview endpoint with the session and CSRF token.
 * Plain JavaScript, no external library, no CDN, no inline script. */
(function () {
  "use strict";

  var OPS = ["eq", "ne", "in", "not_in", "contains", "gt", "gte", "lt", "lte", "is_set", "is_not_set",
    "within_last_days", "before_last_days"];
  var OP_LABELS = {
    eq: "is", ne: "is not", in: "is one of", not_in: "is none of", contains: "contains",
    gt: "is more than", gte: "is at least", lt: "is less than", lte: "is at most", is_set: "is set",
    is_not_set: "is not set", within_last_days: "is within the last N days",
    before_last_days: "is more than N days ago"
  };
  var COUNT_OPS = [["gte", "at least"], ["gt", "more than"], ["eq", "exactly"], ["lte", "at most"], ["lt", "fewer than"]];
  var KINDS = [
    ["attr", "Customer field / attribute"], ["events", "Behaviour (interactions)"],
    ["business_unit", "Business unit"], ["consent", "Consent"], ["identity", "Identity"],
    ["survey", "Survey answer"], ["score", "Score (value and risk)"], ["segment", "Other segment"],
    ["journey", "Journey"], ["json", "Other (JSON)"]
  ];
  var SCORES = [["clv", "CLV"], ["churn_risk", "churn risk (0–1)"], ["p_alive", "P(alive) (0–1)"],
    ["detractor_risk", "detractor risk (0–1)"], ["profitability", "profitability"], ["cost_to_serve", "cost to serve"],
    ["rfm", "RFM cell or code"]];
  var SCORE_OPS = [["gte", "is at least"], ["gt", "is more than"], ["lte", "is at most"], ["lt", "is less than"],
    ["eq", "is"], ["ne", "is not"], ["is_set", "is known"], ["is_not_set", "is not known"]];
  var RFM_OPS = [["in", "is one of"], ["not_in", "is none of"], ["eq", "is"], ["ne", "is not"]];
  var FIELD_ATTRS = ["first_name", "last_name", "email", "phone", "lifecycle_stage", "preferred_channel",
    "language", "created_at", "updated_at", "last_seen_at", "attributes."];

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function csrfToken(form) {
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return (input && input.value) || cookie("csrftoken");
  }

  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }

  function onlyKey(rule, key) {
    return isObject(rule) && Object.keys(rule).length === 1 && Object.prototype.hasOwnProperty.call(rule, key);
  }

  /* ---- rule JSON <-> tree ------------------------------------------------------------------ */

  function kindOf(cond) {
    if (!isObject(cond)) return "json";
    var keys = ["attr", "events", "business_unit", "consent", "identity", "survey", "score", "segment", "journey"];
    for (var i = 0; i < keys.length; i++) if (Object.prototype.hasOwnProperty.call(cond, keys[i])) return keys[i];
    return "json";
  }

  function group(op, negate, children) { return { type: "group", op: op, negate: !!negate, children: children || [] }; }

  function toTree(rule) {
    if (onlyKey(rule, "all") && Array.isArray(rule.all)) return group("all", false, rule.all.map(toTree));
    if (onlyKey(rule, "any") && Array.isArray(rule.any)) return group("any", false, rule.any.map(toTree));
    if (onlyKey(rule, "not")) {
      var inner = toTree(rule.not);
      if (inner.type === "group" && !inner.negate) { inner.negate = true; return inner; }
      return group("all", true, [inner]);
    }
    return { type: "cond", kind: kindOf(rule), data: rule };
  }

  function rootFrom(rule) {
    if (!isObject(rule) || Object.keys(rule).length === 0) return group("all", false, []);
    var tree = toTree(rule);
    return tree.type === "group" ? tree : group("all", false, [tree]);
  }

  function toRule(node) {
    if (node.type === "cond") return node.data;
    if (node.negate && node.children.length === 1) return { not: toRule(node.children[0]) };
    var body = {};
    body[node.op] = node.children.map(toRule);
    return node.negate ? { not: body } : body;
  }

  function rootRule(root) {
    return !root.negate && root.children.length === 0 ? {} : toRule(root);
  }

  function defaultCondition(kind, options) {
    switch (kind) {
      case "attr": return { attr: "lifecycle_stage", op: "eq", value: "active" };
      case "events": return { events: { type: "order_placed", within_days: 90 } };
      case "business_unit": return { business_unit: (options.business_units[0] || { code: "" }).code };
      case "consent": return { consent: { channel: "email", purpose: "marketing" }, is: "granted" };
      case "identity": return { identity: "email", op: "exists" };
      case "survey": return { survey: { kind: "nps" }, latest_category: "promoter" };
      case "score": return { score: "churn_risk", op: "gte", value: 0.5 };
      case "segment": return { segment: (options.segments[0] || { slug: "" }).slug, is: "member" };
      case "journey": return { journey: "", state: "active" };
      default: return {};
    }
  }

  /* ---- small DOM helpers ------------------------------------------------------------------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else if (attrs[key] !== undefined && attrs[key] !== null && attrs[key] !== false) node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function select(className, label, choices, value, onChange) {
    var s = el("select", { className: className, "aria-label": label });
    var found = false;
    choices.forEach(function (choice) {
      var v = Array.isArray(choice) ? choice[0] : choice, text = Array.isArray(choice) ? choice[1] : choice;
      var o = el("option", { value: v, text: text });
      if (String(v) === String(value)) { o.selected = true; found = true; }
      s.appendChild(o);
    });
    if (!found && value !== undefined && value !== null && value !== "") {
      var extra = el("option", { value: value, text: value + " (unknown)" });
      extra.selected = true;
      s.insertBefore(extra, s.firstChild);
    }
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function input(className, label, value, onChange, attrs) {
    var i = el("input", Object.assign({ className: className, "aria-label": label, type: "text" }, attrs || {}));
    i.value = value === undefined || value === null ? "" : value;
    i.addEventListener("input", function () { onChange(i.value); });
    return i;
  }

  function number(className, label, value, onChange) {
    return input(className, label, value, function (raw) {
      var n = parseInt(raw, 10);
      onChange(isNaN(n) ? null : n);
    }, { type: "number", min: "0", inputmode: "numeric" });
  }

  function words(text) { return el("span", { className: "sb-words", text: text }); }

  /* ---- condition editors (each edits node.data in place and calls changed()) --------------- */

  function attrValue(op, raw) {
    if (op === "in" || op === "not_in") {
      return raw.split(",").map(function (v) { return v.trim(); }).filter(Boolean).map(function (v) {
        return v !== "" && !isNaN(Number(v)) ? Number(v) : v;
      });
    }
    if (op === "within_last_days" || op === "before_last_days") return parseInt(raw, 10) || 0;
    if (op !== "contains" && raw !== "" && !isNaN(Number(raw))) return Number(raw);
    return raw;
  }

  var editors = {
    attr: function (d, changed, options) {
      var listId = options.datalistId;
      var valueBox = input("sb-value", "Value", Array.isArray(d.value) ? d.value.join(", ") : d.value, function (raw) {
        d.value = attrValue(d.op, raw); changed();
      }, { placeholder: "value (one of: a, b)" });
      function showValue() {
        var none = d.op === "is_set" || d.op === "is_not_set";
        valueBox.hidden = none;
        if (none) delete d.value;
        else if (d.value === undefined) d.value = attrValue(d.op, valueBox.value);
      }
      var attr = input("sb-attr", "Field or attribute", d.attr, function (v) { d.attr = v.trim(); changed(); },
        { list: listId, placeholder: "lifecycle_stage or attributes.plan" });
      var op = select("sb-op", "Comparison", OPS.map(function (o) { return [o, OP_LABELS[o]]; }), d.op, function (v) {
        d.op = v; if (d.value !== undefined) d.value = attrValue(v, valueBox.value); showValue(); changed();
      });
      showValue();
      return [attr, op, valueBox];
    },
    events: function (d, changed, options) {
      var ev = d.events = isObject(d.events) ? d.events : {};
      var parts = [];
      var setOrDrop = function (key, value) { if (value === "" || value === null) delete ev[key]; else ev[key] = value; changed(); };
      parts.push(words("has"));
      var count = isObject(d.count) ? d.count : { op: "gte", value: 1 };
      var countOp = select("sb-count-op", "How many", COUNT_OPS, count.op, function (v) { count.op = v; syncCount(); });
      var countValue = number("sb-count", "Number of interactions", count.value, function (n) { count.value = n === null ? 1 : n; syncCount(); });
      function syncCount() {
        if (count.op === "gte" && count.value === 1) delete d.count; else d.count = { op: count.op, value: count.value };
        changed();
      }
      parts.push(countOp, countValue);
      parts.push(input("sb-type", "Interaction type", Array.isArray(ev.type) ? ev.type.join(", ") : ev.type, function (v) {
        var list = v.split(",").map(function (t) { return t.trim(); }).filter(Boolean);
        setOrDrop("type", list.length > 1 ? list : (list[0] || ""));
      }, { placeholder: "type, e.g. order_placed (any when empty)" }));
      parts.push(words("interactions on"));
      parts.push(select("sb-channel", "Channel", [["", "any channel"]].concat(options.channels.map(function (c) { return [c.code, c.name]; })),
        Array.isArray(ev.channel) ? ev.channel[0] : ev.channel, function (v) { setOrDrop("channel", v); }));
      parts.push(select("sb-direction", "Direction", [["", "in or out"], ["inbound", "inbound"], ["outbound", "outbound"]],
        ev.direction, function (v) { setOrDrop("direction", v); }));
      parts.push(words("in the last"));
      parts.push(number("sb-days", "Days (all time when empty)", ev.within_days, function (n) { setOrDrop("within_days", n); }));
      parts.push(words("days"));
      var hidden = Object.keys(ev).filter(function (k) { return ["type", "channel", "direction", "within_days"].indexOf(k) < 0; })
        .concat(["sum", "last"].filter(function (k) { return d[k] !== undefined; }));
      if (hidden.length || Array.isArray(ev.channel)) parts.push(el("span", { className: "sb-note", text: "(also " + (hidden.join(", ") || "several channels") + ": edit in JSON)" }));
      return parts;
    },
    business_unit: function (d, changed, options) {
      return [words("belongs to"), select("sb-bu", "Business unit", options.business_units.map(function (b) { return [b.code, b.name + " (" + b.code + ")"]; }),
        d.business_unit, function (v) { d.business_unit = v; changed(); })];
    },
    consent: function (d, changed, options) {
      var c = d.consent = isObject(d.consent) ? d.consent : {};
      var channels = [["all", "all channels"]].concat(options.channels.map(function (ch) { return [ch.code, ch.name]; }));
      return [
        select("sb-consent-channel", "Consent channel", channels, c.channel, function (v) { c.channel = v; changed(); }),
        select("sb-consent-purpose", "Consent purpose", options.purposes, c.purpose, function (v) { c.purpose = v; changed(); }),
        words("consent is"),
        select("sb-consent-is", "Consent state", [["granted", "granted"], ["withdrawn", "withdrawn"], ["unknown", "unknown"]], d.is, function (v) { d.is = v; changed(); })
      ];
    },
    identity: function (d, changed) {
      return [
        select("sb-identity-op", "Has or lacks", [["exists", "has"], ["not_exists", "has no"]], d.op, function (v) { d.op = v; changed(); }),
        select("sb-identity", "Identity kind", [["email", "email"], ["phone", "phone"], ["external_id", "external id"], ["anonymous_id", "anonymous id"], ["device_id", "device id"]],
          d.identity, function (v) { d.identity = v; changed(); }),
        input("sb-namespace", "Namespace", d.namespace, function (v) { if (v.trim()) d.namespace = v.trim(); else delete d.namespace; changed(); }, { placeholder: "namespace (optional)" })
      ];
    },
    survey: function (d, changed) {
      var s = d.survey = isObject(d.survey) ? d.survey : { kind: "nps" };
      var category = select("sb-nps", "Latest NPS category", [["promoter", "promoter"], ["passive", "passive"], ["detractor", "detractor"]], d.latest_category || "promoter", function (v) { d.latest_category = v; changed(); });
      var average = isObject(d.average) ? d.average : { op: "gte", value: 4 };
      var avgOp = select("sb-avg-op", "Average comparison", COUNT_OPS, average.op, function (v) { average.op = v; d.average = average; changed(); });
      var avgValue = input("sb-avg", "Average score", average.value, function (v) { average.value = Number(v) || 0; d.average = average; changed(); }, { type: "number", step: "0.1" });
      var catWords = words("latest answer is"), avgWords = words("average score");
      function show() {
        var nps = s.kind === "nps";
        category.hidden = catWords.hidden = !nps;
        avgOp.hidden = avgValue.hidden = avgWords.hidden = nps;
        if (nps) { delete d.average; d.latest_category = d.latest_category || category.value; }
        else { delete d.latest_category; d.average = average; }
      }
      var kind = select("sb-survey-kind", "Survey kind", [["nps", "NPS"], ["ces", "CES"], ["csat", "CSAT"]], s.kind, function (v) { s.kind = v; show(); changed(); });
      show();
      return [kind, catWords, category, avgWords, avgOp, avgValue, words("within"),
        number("sb-survey-days", "Days (all time when empty)", s.within_days, function (n) { if (n) s.within_days = n; else delete s.within_days; changed(); }),
        words("days")];
    },
    score: function (d, changed) {
      function valueOf(raw) {
        if (d.score !== "rfm") return raw === "" || isNaN(Number(raw)) ? raw : Number(raw);
        var cells = raw.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
        return d.op === "in" || d.op === "not_in" ? cells : (cells[0] || "");
      }
      var valueBox = input("sb-score-value", "Score value", Array.isArray(d.value) ? d.value.join(", ") : d.value,
        function (raw) { d.value = valueOf(raw); changed(); }, { placeholder: "0.5, 100, or champion, loyal, 555" });
      var opSlot = el("span", { className: "sb-score-op-slot" });
      function showOps() {
        var choices = d.score === "rfm" ? RFM_OPS : SCORE_OPS;
        if (!choices.some(function (c) { return c[0] === d.op; })) d.op = choices[0][0];
        opSlot.textContent = "";
        opSlot.appendChild(select("sb-score-op", "Comparison", choices, d.op, function (v) {
          d.op = v; showValue(); changed();
        }));
        showValue();
      }
      function showValue() {
        var none = d.op === "is_set" || d.op === "is_not_set";
        valueBox.hidden = none;
        if (none) delete d.value; else d.value = valueOf(valueBox.value);
      }
      var score = select("sb-score", "Score", SCORES, d.score, function (v) { d.score = v; showOps(); changed(); });
      showOps();
      return [score, opSlot, valueBox];
    },
    segment: function (d, changed, options) {
      var choices = options.segments.filter(function (seg) { return seg.slug !== options.currentSlug(); })
        .map(function (seg) { return [seg.slug, seg.name]; });
      return [
        select("sb-segment-is", "Member or not", [["member", "is a member of"], ["not_member", "is not a member of"]], d.is, function (v) { d.is = v; changed(); }),
        select("sb-segment", "Segment", choices, d.segment, function (v) { d.segment = v; changed(); })
      ];
    },
    journey: function (d, changed) {
      return [
        input("sb-journey", "Journey slug", d.journey, function (v) { d.journey = v.trim(); changed(); }, { placeholder: "journey slug, e.g. order-to-cash" }),
        words("instance is"),
        select("sb-journey-state", "Journey state", [["active", "active"], ["completed", "completed"], ["breached", "breached"], ["abandoned", "abandoned"]],
          d.state, function (v) { d.state = v; changed(); })
      ];
    },
    json: function (d, changed, options, node) {
      var box = el("textarea", { className: "sb-json", "aria-label": "Condition as JSON", rows: "2", spellcheck: "false" });
      box.value = JSON.stringify(d);
      box.addEventListener("input", function () {
        try { node.data = JSON.parse(box.value); node.kind = "json"; box.classList.remove("sb-invalid"); changed(); }
        catch (e) { box.classList.add("sb-invalid"); }
      });
      return [box];
    }
  };

  /* ---- the builder ------------------------------------------------------------------------- */

  function setup(builder) {
    var textarea = document.getElementById(builder.dataset.rulesInput);
    var options = JSON.parse(builder.dataset.options || "{}");
    options.segments = options.segments || [];
    options.business_units = options.business_units || [];
    options.channels = options.channels || [];
    options.purposes = options.purposes || [["marketing", "marketing"], ["service", "service"]];
    var form = textarea.form, parent = form && form.querySelector("[name=parent]");
    var slugInput = form && form.querySelector("[name=slug]");
    options.currentSlug = function () { return slugInput ? slugInput.value : ""; };
    options.datalistId = builder.id + "-attrs";
    var tree = builder.querySelector(".sb-tree"), status = builder.querySelector(".sb-status");
    var preview = builder.querySelector(".segment-preview");
    var config = document.getElementById("segment-preview-config");
    var url = (config && config.dataset.previewUrl) || "/api/v1/segments/preview/";
    var root = group("all", false, []), timer = null, seq = 0;

    var datalist = el("datalist", { id: options.datalistId });
    FIELD_ATTRS.forEach(function (a) { datalist.appendChild(el("option", { value: a })); });
    builder.appendChild(datalist);

    function write() {
      textarea.value = JSON.stringify(rootRule(root), null, 2);
      schedule();
    }

    function renderCondition(node, owner) {
      var row = el("li", { className: "sb-cond" });
      var kind = select("sb-kind", "Condition kind", KINDS, node.kind, function (v) {
        node.kind = v;
        node.data = v === "json" ? node.data : defaultCondition(v, options);
        row.replaceWith(renderCondition(node, owner));
        write();
      });
      var fields = el("span", { className: "sb-fields", "data-kind": node.kind },
        (editors[node.kind] || editors.json)(node.data, write, options, node));
      var remove = el("button", { type: "button", className: "sb-remove", "aria-label": "Remove condition", text: "Remove" });
      remove.addEventListener("click", function () {
        owner.children.splice(owner.children.indexOf(node), 1);
        render();
        write();
      });
      row.appendChild(kind);
      row.appendChild(fields);
      row.appendChild(remove);
      return row;
    }

    function renderGroup(node, owner) {
      var box = el("fieldset", { className: "sb-group" + (node.negate ? " sb-negated" : "") });
      var head = el("legend", { className: "sb-group-head" });
      var negate = el("input", { type: "checkbox", className: "sb-not" });
      negate.checked = node.negate;
      negate.addEventListener("change", function () { node.negate = negate.checked; box.classList.toggle("sb-negated", node.negate); write(); });
      head.appendChild(el("label", { className: "sb-not-label" }, [negate, "NOT"]));
      head.appendChild(select("sb-combinator", "Match", [["all", "ALL of these (and)"], ["any", "ANY of these (or)"]], node.op, function (v) { node.op = v; write(); }));
      box.appendChild(head);
      var list = el("ul", { className: "sb-children" });
      node.children.forEach(function (child) {
        list.appendChild(child.type === "group" ? el("li", { className: "sb-subgroup" }, [renderGroup(child, node)]) : renderCondition(child, node));
      });
      if (!node.children.length) list.appendChild(el("li", { className: "sb-empty", text: owner ? "Empty group: add a condition." : "No condition yet: every customer matches." }));
      box.appendChild(list);
      var actions = el("div", { className: "sb-actions" });
      var addCond = el("button", { type: "button", className: "sb-add-condition", text: "+ Condition" });
      addCond.addEventListener("click", function () {
        node.children.push({ type: "cond", kind: "attr", data: defaultCondition("attr", options) });
        render();
        write();
      });
      var addGroup = el("button", { type: "button", className: "sb-add-group", text: "+ Group" });
      addGroup.addEventListener("click", function () {
        node.children.push(group(node.op === "all" ? "any" : "all", false, [{ type: "cond", kind: "attr", data: defaultCondition("attr", options) }]));
        render();
        write();
      });
      actions.appendChild(addCond);
      actions.appendChild(addGroup);
      if (owner) {
        var removeGroup = el("button", { type: "button", className: "sb-remove-group", text: "Remove group" });
        removeGroup.addEventListener("click", function () {
          owner.children.splice(owner.children.indexOf(node), 1);
          render();
          write();
        });
        actions.appendChild(removeGroup);
      }
      box.appendChild(actions);
      return box;
    }

    function render() {
      tree.textContent = "";
      tree.appendChild(renderGroup(root, null));
    }

    function readTextarea() {
      var text = textarea.value.trim();
      try {
        root = rootFrom(text ? JSON.parse(text) : {});
      } catch (e) {
        builder.classList.add("sb-disabled");
        status.textContent = "The JSON below is not valid yet; the form controls come back when it is.";
        return false;
      }
      builder.classList.remove("sb-disabled");
      status.textContent = "";
      render();
      return true;
    }

    function renderPreview(state) {
      var statusEl = preview.querySelector(".sp-status"), sample = preview.querySelector(".sp-sample");
      preview.classList.toggle("error", state.error !== undefined);
      sample.textContent = "";
      if (state.error !== undefined) { statusEl.textContent = state.error; return; }
      if (state.loading) { statusEl.textContent = "counting…"; return; }
      statusEl.textContent = "";
      statusEl.appendChild(el("span", { className: "sp-count", text: state.count.toLocaleString() }));
      statusEl.appendChild(document.createTextNode(state.count === 1 ? " customer matches" : " customers match"));
      state.sample.forEach(function (c) {
        var name = [c.first_name, c.last_name].join(" ").trim();
        sample.appendChild(el("li", { text: "#" + c.id + " " + (name || c.email || c.phone || "") + (c.email && name ? " <" + c.email + ">" : "") }));
      });
    }

    function refresh() {
      var rules;
      try { rules = JSON.parse(textarea.value); } catch (e) {
        renderPreview({ error: "Not valid JSON yet: " + e.message }); return;
      }
      var body = { rules: rules };
      if (parent && parent.value) body.parent = parseInt(parent.value, 10);
      var mine = ++seq;
      renderPreview({ loading: true });
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form), Accept: "application/json" },
        body: JSON.stringify(body)
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (result) {
        if (mine !== seq) return;  // a newer edit is already being previewed
        if (result.ok) renderPreview({ count: result.data.count, sample: result.data.sample });
        else renderPreview({ error: (result.data.error && result.data.error.message) || "Invalid rule" });
      }).catch(function () {
        if (mine === seq) renderPreview({ error: "Preview unavailable (network error)." });
      });
    }

    function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 400); }

    textarea.addEventListener("input", function () { readTextarea(); schedule(); });
    if (parent) parent.addEventListener("change", schedule);
    readTextarea();
    if (textarea.value.trim() && textarea.value.trim() !== "{}") refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".segment-builder").forEach(setup);
  });
})();
