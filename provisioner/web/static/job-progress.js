// Refreshes a job page's state and progress table while the job runs.
// The page works without it: the table is rendered on the server.
(function () {
  "use strict";
  const job = document.getElementById("job");
  if (!job || job.dataset.finished === "true") { return; }
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text ?? ""; return td; };

  function render(progress) {
    const state = document.getElementById("job-state");
    state.textContent = progress.state_label;
    state.className = "state-" + progress.state;
    document.getElementById("job-attempts").textContent =
      document.getElementById("job-attempts").textContent.replace(/^\d+/, String(progress.attempts));
    const error = document.getElementById("job-error");
    error.textContent = progress.error ?? "";
    error.hidden = !progress.error;
    const rows = progress.results.map((r) => {
      const tr = document.createElement("tr");
      tr.className = "result-" + r.status;
      [r.attempt, r.uid, r.service, r.task, r.status, r.message].forEach((v) => tr.appendChild(cell(String(v ?? ""))));
      return tr;
    });
    if (rows.length) { document.getElementById("job-results").replaceChildren(...rows); }
  }

  async function poll() {
    try {
      const response = await fetch(job.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) { return; }
      const progress = await response.json();
      render(progress);
      if (progress.finished) { window.location.reload(); return; }  // shows retry/cancel as they now apply
    } catch (e) { /* network hiccup: try again */ }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 2000);
})();
