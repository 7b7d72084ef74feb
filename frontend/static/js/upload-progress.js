// The recording upload form: proposes a package name from the chosen file's name, refuses a
// file over the limit before gigabytes are sent, and shows how much has been sent (htmx's
// `htmx:xhr:progress` events) until the server answers with the packaging job.
// Listeners sit on the document because a refused upload swaps the form for a new one.

const NAME_MAX = 63;
const FORM = "form[data-upload]";

/** The package name proposed for a file, as the server derives it (media_jobs.py). */
export function nameFromFilename(filename) {
  const stem = filename.replace(/\.[^.]*$/, "");
  return stem
    .normalize("NFKD")
    .replace(/[^\x00-\x7f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, NAME_MAX)
    .replace(/-+$/, "");
}

function parts(form) {
  return {
    file: form.querySelector("input[type='file']"),
    name: form.querySelector("input[name='name']"),
    bar: form.querySelector("progress"),
    status: form.querySelector(".upload-status"),
  };
}

function uploadForm(event) {
  const element = event.detail?.elt ?? event.target;
  return element instanceof Element ? element.closest(FORM) : null;
}

function formatBytes(bytes) {
  const units = ["bytes", "kB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

// Choosing a file fills in the name, unless the person typed one of their own.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
  const form = input.closest(FORM);
  const file = input.files?.[0];
  if (!form || !file) return;
  const { name } = parts(form);
  if (name.value === "" || name.value === name.dataset.proposed) {
    name.value = nameFromFilename(file.name);
    name.dataset.proposed = name.value;
  }
});

document.addEventListener("htmx:beforeRequest", (event) => {
  const form = uploadForm(event);
  if (!form) return;
  const { file, bar, status } = parts(form);
  const chosen = file.files?.[0];
  const limit = Number(form.dataset.maxBytes);
  if (chosen && chosen.size > limit) {
    event.preventDefault();
    status.textContent = `This file is ${formatBytes(chosen.size)}; the most this page accepts is ${form.dataset.maxLabel}. Export a smaller file and choose it again.`;
    return;
  }
  bar.hidden = false;
  bar.value = 0;
  status.textContent = "Sending the recording: 0 %";
});

document.addEventListener("htmx:xhr:progress", (event) => {
  const form = uploadForm(event);
  if (!form || !event.detail.lengthComputable || !event.detail.total) return;
  const { bar, status } = parts(form);
  // Download progress of the answer arrives under the same name; never go backwards.
  const percent = Math.max(bar.value, Math.floor((100 * event.detail.loaded) / event.detail.total));
  bar.value = percent;
  status.textContent = percent < 100
    ? `Sending the recording: ${percent} %`
    : "Sent; the packaging is queued below.";
});

document.addEventListener("htmx:afterRequest", (event) => {
  const form = uploadForm(event);
  if (!form || !form.isConnected) return;
  const { bar, status, name } = parts(form);
  bar.hidden = true;
  if (event.detail.successful) {
    form.reset();
    delete name.dataset.proposed;
    status.textContent = "Sent; the packaging is listed below.";
  } else if (!event.detail.xhr?.status) {
    status.textContent = "The upload did not reach the server (the connection was lost). Try again.";
  }
});
