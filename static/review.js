// The review queue from the keyboard: j/k move, a accepts, e edits, r rejects, ? helps.
(() => {
  const item = document.getElementById("review-item");
  const help = document.getElementById("review-help");
  const form = document.getElementById("review-form");

  function edit() {
    const fields = document.getElementById("review-edit");
    fields.hidden = false;
    for (const input of fields.querySelectorAll("input")) input.disabled = false;
    document.getElementById("accept").disabled = false; // what is typed can be accepted
    document.getElementById("edit-caption").focus();
  }

  function decide(decision) {
    form.requestSubmit(document.querySelector(`button[value="${decision}"]`));
  }

  if (form) document.getElementById("edit").addEventListener("click", edit);

  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, textarea, select");
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") {
      help.open ? help.close() : help.showModal();
    } else if (!item || help.open) {
      return;
    } else if (event.key === "j" && item.dataset.next) {
      window.location.assign(item.dataset.next);
    } else if (event.key === "k" && item.dataset.previous) {
      window.location.assign(item.dataset.previous);
    } else if (event.key === "a") {
      // An answer with nothing to accept (not understood) opens for editing instead.
      document.getElementById("accept").disabled ? edit() : decide("accept");
    } else if (event.key === "r") {
      decide("reject");
    } else if (event.key === "e") {
      edit();
    } else {
      return;
    }
    event.preventDefault();
  });
})();
