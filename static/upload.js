// The gallery's drop zone: many files at once, one request, a real progress bar.
// Without JavaScript the form still posts (the <noscript> button).
(() => {
  const form = document.getElementById("uploader");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const progress = document.getElementById("progress");
  const bar = progress.querySelector(".bar");
  const label = progress.querySelector(".label");
  const report = document.getElementById("upload-report");

  const show = (fraction, text) => {
    progress.hidden = false;
    bar.style.width = `${Math.round(fraction * 100)}%`;
    label.textContent = text;
  };

  // Reload the results under the filters in force (the counts and tag list come along).
  const refreshResults = () => {
    const filters = new URLSearchParams(new FormData(document.querySelector("form.filters")));
    htmx.ajax("GET", `${form.dataset.gallery}?${filters}`, { target: "#results", swap: "outerHTML" });
  };
  // An archive imported in the background polls its progress; its last answer says so.
  document.body.addEventListener("import-finished", refreshResults);

  const maxBytes = Number(form.dataset.maxBytes);
  const megabytes = (n) => `${Math.round(n / 1024 / 1024)} MB`;

  const refuse = (message) => {
    show(0, "");
    progress.hidden = true;
    report.innerHTML = "";
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = message;
    report.appendChild(p);
  };

  const upload = (files) => {
    if (!files.length) return;
    const total = Array.from(files).reduce((sum, f) => sum + f.size, 0);
    if (total > maxBytes) {
      refuse(`Upload refused: ${megabytes(total)} is more than the ${megabytes(maxBytes)} one upload may carry. Send fewer files at a time.`);
      input.value = "";
      return;
    }
    const body = new FormData();
    for (const file of files) body.append("files", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("HX-Request", "true");
    xhr.setRequestHeader("X-CSRF-Token", document.querySelector("meta[name=csrf-token]").content);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) show(e.loaded / e.total, `Uploading ${files.length} file(s)… ${Math.round((100 * e.loaded) / e.total)}%`);
    };
    xhr.upload.onload = () => show(1, "Checking files…");
    xhr.onload = () => {
      if (xhr.status === 200) {
        show(1, "Done");
        report.innerHTML = xhr.responseText;
        htmx.process(report); // an import's progress polls by itself
        refreshResults();
      } else if (xhr.status === 413) {
        refuse(`Upload refused: it is more than the ${megabytes(maxBytes)} one upload may carry.`);
      } else {
        let detail = xhr.statusText;
        try { detail = JSON.parse(xhr.responseText).detail; } catch (_) {}
        refuse(`Upload refused: ${typeof detail === "string" ? detail : xhr.statusText}`);
      }
      input.value = "";
    };
    xhr.onerror = () => refuse("The upload failed: the server could not be reached. Nothing was stored; try again.");
    show(0, `Uploading ${files.length} file(s)…`);
    xhr.send(body);
  };

  input.addEventListener("change", () => upload(input.files));
  for (const type of ["dragenter", "dragover"]) form.addEventListener(type, (e) => { e.preventDefault(); form.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) form.addEventListener(type, (e) => { e.preventDefault(); form.classList.remove("over"); });
  form.addEventListener("drop", (e) => upload(e.dataTransfer.files));
})();
