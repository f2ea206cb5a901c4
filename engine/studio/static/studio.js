// gridcredit workbench: sends each edit to the server and shows the grid it renders back.
// Plain JavaScript, no libraries; every request carries X-Studio: 1.
"use strict";

(function () {
  var base = document.body.dataset.base || "/studio";
  var words = null;

  // The page's words in its language (labels.py renders them into #words).
  function word(key, values) {
    if (words === null) {
      var holder = document.getElementById("words");
      words = holder ? JSON.parse(holder.textContent) : {};
    }
    var text = words[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("%(" + name + ")s").join(String(values[name]));
    });
    return text;
  }

  function request(method, path, body, isForm) {
    var headers = {"X-Studio": "1"};
    if (body !== undefined && !isForm) { headers["Content-Type"] = "application/json"; }
    return fetch(base + path, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : (isForm ? body : JSON.stringify(body))
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || data.detail ||
                                (data.problems || []).join("\n") || response.statusText);
          error.data = data; error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function say(text, bad) {
    var box = document.getElementById("message");
    if (!box) { return; }
    box.textContent = text;
    box.className = bad ? "bad" : "ok";
  }

  function busy(on) {
    var flag = document.getElementById("busy");
    if (flag) { flag.hidden = !on; }
  }

  // ------------------------------------------------------------------ grid edits

  function gridInfo() {
    var grid = document.getElementById("grid");
    return grid ? {file: grid.dataset.file, table: Number(grid.dataset.table)} : null;
  }

  function swap(data) {
    var active = document.activeElement;
    var cell = active && active.dataset ? active.dataset.cell : null;
    var grid = document.getElementById("grid");
    var holder = document.createElement("div");
    holder.innerHTML = data.grid;
    grid.replaceWith(holder.firstElementChild);
    document.getElementById("bar").innerHTML = data.bar;
    applyFilters();
    if (cell) {
      var again = document.querySelector('[data-cell="' + cell + '"]');
      if (again) { again.focus(); }
    }
    if (data.status.pending) { schedulePoll(); }
  }

  var polling = null;
  function schedulePoll() {
    if (polling) { return; }
    polling = window.setTimeout(function () {
      polling = null;
      var info = gridInfo();
      var active = document.activeElement;
      if (!info) { return; }
      if (active && active.dataset && active.dataset.cell && active.value !== active.defaultValue) {
        schedulePoll();  // the user is typing: ask again later
        return;
      }
      request("GET", "/api/grid?file=" + encodeURIComponent(info.file) + "&table=" + info.table)
        .then(swap).catch(function (error) { say(error.message, true); });
    }, 1500);
  }

  function edit(op, rule, column, text) {
    var info = gridInfo();
    var body = {op: op, file: info.file, table: info.table, rule: rule};
    if (column !== undefined) { body.column = column; body.text = text; }
    busy(true);
    return request("POST", "/api/edit", body).then(function (data) {
      swap(data); busy(false);
    }).catch(function (error) { busy(false); say(error.message, true); });
  }

  // A text's translation goes straight to its language's catalogue, not into the draft.
  function translate(field) {
    var info = gridInfo();
    busy(true);
    return request("POST", "/api/translate", {
      file: info.file, table: info.table, lang: field.dataset.translate,
      source: field.dataset.source, line: Number(field.dataset.line), text: field.value
    }).then(function (data) {
      swap(data); busy(false);
      say(word("grid.translation_saved", {lang: field.dataset.translate, file: data.catalogue}));
    }).catch(function (error) { busy(false); say(error.message, true); });
  }

  function exampleOf(element) {
    var row = element.closest("tr[data-example]");
    return row ? Number(row.dataset.example) : null;
  }

  function ruleOf(element) {
    var row = element.closest("tr[data-rule]");
    return row ? Number(row.dataset.rule) : null;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "add-column" && target.value) {
      edit("column-add", null, "", target.value);
    } else if (target.closest("#grid") && target.dataset.translate) {
      translate(target);
    } else if (target.closest("#grid") && target.dataset.exampleColumn) {
      edit("example-set", exampleOf(target), target.dataset.exampleColumn, target.value);
    } else if (target.closest("#grid") && target.dataset.tableKey) {
      edit(target.dataset.tableKey, null, target.dataset.column, target.value);
    } else if (target.closest("#grid") && target.dataset.column) {
      edit("set", ruleOf(target), target.dataset.column, target.value);
    }
    if (target.id === "upload" && target.files.length) { upload(target.files[0]); }
    if (["search", "problems-only", "fired-only"].indexOf(target.id) >= 0) { applyFilters(); }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) { return; }
    if (button.closest("#grid") && button.dataset.columnOp) {
      var name = button.dataset.columnName;
      if (button.dataset.columnOp === "column-remove") {
        if (!window.confirm(word("js.remove_column", {column: name}))) { return; }
        edit("column-remove", null, name, "");
      } else {
        var renamed = (window.prompt(word("js.rename_column", {column: name}), name) || "").trim();
        if (renamed && renamed !== name) { edit("column-rename", null, name, renamed); }
      }
    } else if (button.closest("#grid") && button.dataset.exampleOp) {
      var example = exampleOf(button);
      if (button.dataset.exampleOp === "example-delete" &&
          !window.confirm(word("js.delete_example", {num: example + 1}))) { return; }
      edit(button.dataset.exampleOp, example);
    } else if (button.closest("#grid") && button.dataset.op) {
      var rule = ruleOf(button);
      if (button.dataset.op === "delete" &&
          !window.confirm(word("js.delete_rule", {num: rule + 1}))) { return; }
      edit(button.dataset.op, rule === null ? null : rule);
    } else if (button.classList.contains("restore")) {
      busy(true);
      request("POST", "/api/restore", {release: Number(button.dataset.release)}).then(function (data) {
        busy(false); say(data.message);
      }).catch(function (error) { busy(false); say(error.message, true); });
    } else if (button.classList.contains("params")) {
      openParams(button);
    } else if (button.id === "save") {
      var bump = document.getElementById("bump");
      request("POST", "/api/save", {bump: bump && bump.checked}).then(function (data) {
        say(word("js.saved", {files: data.saved.join(", ")}));
        window.location.reload();
      }).catch(function (error) { say(error.message, true); });
    } else if (button.id === "publish") {
      var publisher = null;
      if (button.dataset.local === "1") {
        publisher = window.localStorage.getItem("gridcredit-publisher");
        if (!publisher) {
          publisher = (window.prompt(word("js.publisher_name")) || "").trim();
          if (publisher) { window.localStorage.setItem("gridcredit-publisher", publisher); }
        }
      }
      say(word("js.publishing"));
      button.disabled = true; busy(true);
      request("POST", "/api/publish", {
        message: document.getElementById("publish-message").value,
        approved_by: document.getElementById("publish-approver").value,
        publisher: publisher
      }).then(function (data) {
        button.disabled = false; busy(false); say(word("js.published", {line: data.line}));
      }).catch(function (error) { button.disabled = false; busy(false); say(error.message, true); });
    } else if (button.id === "undo" || button.id === "redo") {
      request("POST", "/api/" + button.id, {}).then(function () { window.location.reload(); })
        .catch(function (error) { say(error.message, true); });
    } else if (button.id === "discard") {
      if (!window.confirm(word("js.discard"))) { return; }
      request("POST", "/api/discard", {}).then(function () { window.location.reload(); })
        .catch(function (error) { say(error.message, true); });
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.closest || !target.closest("#grid") || !target.dataset.column ||
        target.dataset.tableKey) { return; }
    if (target.tagName === "TEXTAREA" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault(); target.blur(); target.focus();
      return;
    }
    if (target.tagName === "INPUT" && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      var rows = Array.prototype.slice.call(document.querySelectorAll("#grid tr[data-rule]"))
        .filter(function (r) { return !r.hidden; });
      var row = target.closest("tr");
      var next = rows[rows.indexOf(row) + (event.key === "ArrowUp" ? -1 : 1)];
      if (next) {
        var other = next.querySelector('[data-column="' + target.dataset.column + '"]');
        if (other) { event.preventDefault(); other.focus(); }
      }
    }
  });

  function applyFilters() {
    var search = document.getElementById("search");
    if (!search) { return; }
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var problems = document.getElementById("problems-only");
    var fired = document.getElementById("fired-only");
    document.querySelectorAll("#grid tr[data-rule]").forEach(function (row) {
      var text = row.textContent.toLowerCase();
      row.querySelectorAll("input, textarea").forEach(function (i) { text += " " + i.value.toLowerCase(); });
      var show = words.every(function (w) { return text.indexOf(w) >= 0; });
      if (problems && problems.checked) {
        show = show && (row.classList.contains("has-problem") || row.classList.contains("has-finding"));
      }
      if (fired && fired.checked) { show = show && row.classList.contains("fired"); }
      row.hidden = !show;
    });
  }
  document.addEventListener("input", function (event) {
    if (event.target.id === "search") { applyFilters(); }
  });

  // ------------------------------------------------------------------ policy params

  var editing = null;

  function parsePolicies(text) {
    return text.split("\n").map(function (l) { return l.trim(); }).filter(Boolean).map(function (line) {
      var m = /^([A-Za-z0-9_.-]+)\s*(?:\((.*)\))?$/.exec(line);
      if (!m) { return {raw: line}; }
      var params = {};
      (m[2] || "").split(",").forEach(function (part) {
        var eq = part.indexOf("=");
        if (eq > 0) { params[part.slice(0, eq).trim()] = part.slice(eq + 1).trim(); }
      });
      return {id: m[1], params: params, written: m[2] !== undefined};
    });
  }

  function openParams(button) {
    var bounds = JSON.parse(document.getElementById("bounds").textContent);
    var area = button.parentElement.querySelector("textarea");
    var body = document.getElementById("params-body");
    body.innerHTML = "";
    editing = {area: area, items: parsePolicies(area.value)};
    editing.items.forEach(function (item, i) {
      var box = document.createElement("fieldset");
      var legend = document.createElement("legend");
      legend.textContent = item.id || item.raw;
      box.appendChild(legend);
      var specs = bounds[item.id] || {};
      Object.keys(specs).forEach(function (name) {
        var spec = specs[name];
        var label = document.createElement("label");
        var caption = document.createElement("span");
        caption.textContent = name + (spec.unit && spec.unit !== "-" ? " (" + spec.unit + ")" : "");
        var input;
        if (spec.choices.length || spec.type === "bool") {
          input = document.createElement("select");
          [""].concat(spec.type === "bool" ? ["true", "false"] : spec.choices).forEach(function (c) {
            var o = document.createElement("option"); o.value = c; o.textContent = c || word("js.default_choice", {value: spec.default});
            input.appendChild(o);
          });
        } else {
          input = document.createElement("input");
          input.type = spec.type === "str" ? "text" : "number";
          if (spec.min !== null) { input.min = spec.min; }
          if (spec.max !== null) { input.max = spec.max; }
          input.step = spec.type === "int" ? "1" : "any";
          input.placeholder = word("js.default", {value: spec.default});
        }
        input.value = item.params && item.params[name] !== undefined ? item.params[name] : "";
        input.dataset.item = i; input.dataset.param = name;
        label.appendChild(caption); label.appendChild(input);
        if (spec.min !== null || spec.max !== null) {
          var range = document.createElement("small");
          range.textContent = " " + (spec.min !== null ? spec.min : "") + " … " + (spec.max !== null ? spec.max : "");
          label.appendChild(range);
        }
        box.appendChild(label);
      });
      body.appendChild(box);
    });
    document.getElementById("params-dialog").showModal();
  }

  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (dialog.id !== "params-dialog" || dialog.returnValue !== "apply" || !editing) { return; }
    dialog.querySelectorAll("[data-param]").forEach(function (input) {
      var item = editing.items[Number(input.dataset.item)];
      if (input.value === "") { delete item.params[input.dataset.param]; }
      else { item.params[input.dataset.param] = input.value; }
    });
    var text = editing.items.map(function (item) {
      if (item.raw) { return item.raw; }
      var names = Object.keys(item.params);
      if (!names.length && !item.written) { return item.id; }
      return item.id + "(" + names.map(function (n) { return n + "=" + item.params[n]; }).join(", ") + ")";
    }).join("\n");
    var area = editing.area;
    editing = null;
    if (text !== area.value) { area.value = text; edit("set", ruleOf(area), "policy", text); }
  }, true);

  // ------------------------------------------------------------------ workbook upload

  function upload(file) {
    var form = new FormData();
    form.append("workbook", file);
    busy(true);
    request("POST", "/workbook", form, true).then(function (data) {
      busy(false);
      var warnings = data.warnings || [];
      say((data.changed.length ? word("js.upload_changed", {files: data.changed.join(", ")})
                               : word("js.upload_same"))
          + (warnings.length ? "\n" + warnings.join("\n") : ""), warnings.length > 0);
      if (data.changed.length) {
        window.setTimeout(function () { window.location.reload(); },
                          warnings.length ? 6000 : 600);
      }
    }).catch(function (error) { busy(false); say(error.message, true); });
  }

  // ------------------------------------------------------------------ simulator

  function fillForm(record) {
    var form = document.getElementById("sim-form");
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) { return; }
      var v = record[el.name];
      el.value = v === undefined || v === null ? "" : String(v);
    });
  }

  function simulatorPage() {
    var form = document.getElementById("sim-form");
    if (!form) { return; }
    var sample = JSON.parse(document.getElementById("sample-record").textContent);
    fillForm(sample);
    document.getElementById("sample").addEventListener("click", function () { fillForm(sample); });
    var load = document.getElementById("load-customer");
    if (load) {
      load.addEventListener("click", function () {
        var file = document.getElementById("population").value;
        var id = document.getElementById("customer-id").value.trim();
        request("GET", "/api/customer?file=" + encodeURIComponent(file) + "&id=" + encodeURIComponent(id))
          .then(function (data) { fillForm(data.record); document.getElementById("sim-error").textContent = ""; })
          .catch(function (error) { document.getElementById("sim-error").textContent = error.message; });
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var record = {};
      Array.prototype.forEach.call(form.elements, function (el) { if (el.name) { record[el.name] = el.value; } });
      document.getElementById("sim-error").textContent = "";
      request("POST", "/api/simulate", {record: record}).then(function (data) {
        document.getElementById("outcome").innerHTML = data.html;
        document.getElementById("outcome").scrollIntoView();
      }).catch(function (error) { document.getElementById("sim-error").textContent = error.message; });
    });
  }

  // ------------------------------------------------------------------ impact

  function impactPage() {
    var form = document.getElementById("impact-form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var kind = form.querySelector('input[name="baseline-kind"]:checked').value;
      var body = {population: document.getElementById("impact-population").value,
                  baseline: kind === "saved" ? "saved" : document.getElementById("baseline-spec").value};
      var progress = document.getElementById("impact-progress");
      var bar = document.getElementById("impact-bar");
      var count = document.getElementById("impact-count");
      document.getElementById("impact-error").textContent = "";
      document.getElementById("impact-result").innerHTML = "";
      request("POST", "/api/impact", body).then(function (job) {
        progress.hidden = false;
        function poll() {
          request("GET", "/api/impact/" + job.id).then(function (state) {
            bar.max = Math.max(state.total, 1); bar.value = state.done;
            count.textContent = state.done.toLocaleString() + " / " + state.total.toLocaleString();
            if (state.state === "running") { window.setTimeout(poll, 400); }
            else if (state.state === "failed") { document.getElementById("impact-error").textContent = state.error; }
            else { document.getElementById("impact-result").innerHTML = state.html; }
          }).catch(function (error) { document.getElementById("impact-error").textContent = error.message; });
        }
        poll();
      }).catch(function (error) { document.getElementById("impact-error").textContent = error.message; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var grid = document.getElementById("grid");
    if (grid && grid.dataset.pending === "1") { schedulePoll(); }
    simulatorPage();
    impactPage();
    var hash = window.location.hash;
    if (hash && document.querySelector(hash)) { document.querySelector(hash).scrollIntoView({block: "center"}); }
  });
}());
