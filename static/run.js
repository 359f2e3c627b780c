// The run page's log: its newest lines are at the bottom, so keep them in view while the run
// writes more, unless the reader has scrolled up to read something, then stay where they are.
(() => {
  const log = document.getElementById("run-log");
  if (!log) return;
  const atBottom = () => log.scrollTop + log.clientHeight >= log.scrollHeight - 2;
  const toBottom = () => { log.scrollTop = log.scrollHeight; };
  let follow = true;
  // A collapsed log has no height, and so is "at the bottom" whatever its scroll: ignore it.
  log.addEventListener("scroll", () => { if (log.clientHeight) follow = atBottom(); });
  document.body.addEventListener("htmx:oobAfterSwap", (e) => { if (e.detail.target === log && follow) toBottom(); });
  log.closest("details").addEventListener("toggle", (e) => { if (e.target.open && follow) toBottom(); });
  toBottom();
})();
