// An invitation link is /invite#<secret>. Browsers never send the fragment, so the secret
// stays out of every server's and proxy's log; this posts it to open the invitation. It is
// kept in this tab's sessionStorage for the way back from signing in.
(() => {
  const form = document.getElementById("invite-open");
  const key = "atelier-invitation";
  const fromLink = decodeURIComponent(window.location.hash.slice(1));
  if (fromLink) {
    sessionStorage.setItem(key, fromLink);
    history.replaceState(null, "", window.location.pathname);
  }
  if (!form) return;
  if (form.dataset.failed) {
    sessionStorage.removeItem(key); // not valid any more: do not post it again
    return;
  }
  const secret = fromLink || sessionStorage.getItem(key);
  if (secret) {
    form.elements.token.value = secret;
    form.submit();
  }
})();
