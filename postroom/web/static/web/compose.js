/* The compose form: drafts saved as you type, files attached as soon as they are picked.
 * Plain fetch, no framework. The server cleans whatever the editor sends. */
(function () {
  "use strict";

  // Files are attachments (the field below the editor), never pasted into the body.
  document.addEventListener("trix-file-accept", function (event) { event.preventDefault(); });

  var form = document.querySelector("form.compose[data-autosave]");
  if (!form) return;
  // Writing starts above the signature and the quote, not below them. This deferred
  // script usually runs after the editor is initialised (Trix is loaded first), when
  // its trix-initialize event is over: set the cursor at once then.
  var editorElement = form.querySelector("trix-editor");
  if (editorElement && editorElement.editor) {
    editorElement.editor.setSelectedRange(0);
  } else {
    form.addEventListener("trix-initialize", function (event) {
      event.target.editor.setSelectedRange(0);
    });
  }
  var DELAY = 2000; // ms of quiet before a save
  var status = form.querySelector(".draft-status");
  var draftField = form.querySelector("input[name=draft]");
  var fileInput = form.querySelector("input[type=file][name=files]");
  var list = form.querySelector(".attachments-list");
  var timer = null;
  var inflight = null;
  var dirty = false;

  function size(bytes) {
    return bytes < 1024 * 1024 ? Math.ceil(bytes / 1024) + " KB" : (bytes / 1048576).toFixed(1) + " MB";
  }

  function showAttachments(items) {
    list.replaceChildren.apply(list, items.map(function (file) {
      var li = document.createElement("li");
      var label = document.createElement("label");
      var box = document.createElement("input");
      box.type = "checkbox"; box.name = "attachment"; box.value = file.sha256; box.checked = true;
      var span = document.createElement("span");
      span.className = "size"; span.textContent = size(file.size);
      label.append(box, " " + file.filename + " ", span);
      li.append(label);
      return li;
    }));
  }

  function save(withFiles) {
    if (inflight) { dirty = true; return inflight; }
    dirty = false;
    var data = new FormData(form);
    data.set("action", "save");
    if (!withFiles) data.delete("files");
    inflight = fetch(window.location.href, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (result) {
        if (!response.ok) throw new Error(result.error || response.statusText);
        draftField.value = result.draft;
        if (withFiles) { fileInput.value = ""; showAttachments(result.attachments); }
        status.textContent = "Draft saved " + new Date().toLocaleTimeString();
        status.classList.remove("error");
      });
    }).catch(function (error) {
      status.textContent = "Draft not saved: " + error.message;
      status.classList.add("error");
      if (withFiles) fileInput.value = "";
    }).finally(function () {
      inflight = null;
      if (dirty) schedule();
    });
    return inflight;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () { save(false); }, DELAY);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("trix-change", schedule);
  form.addEventListener("change", function (event) {
    if (event.target === fileInput) { if (fileInput.files.length) save(true); } else { schedule(); }
  });
  form.addEventListener("submit", function (event) {
    clearTimeout(timer);
    // A save still under way may be creating the draft: wait for its id, then submit,
    // so that sending deletes that draft rather than leave a copy behind.
    if (inflight) {
      event.preventDefault();
      var submitter = event.submitter;
      inflight.then(function () { form.requestSubmit(submitter); });
    }
  });
})();
