// Chainlit's client (2.x) opens its websocket after it POSTs /set-session-cookie, and the socket
// opened last replaces the others. On a thread page's first load (a reload, a bookmark) it
// connects twice: once before it has noted the thread to resume, once after. When the second POST
// is answered first (a loaded replica, a proxy), the first connection, which resumes nothing, is
// opened last and wins: the page shows a spinner for ever. This script hands the page these
// answers in the order the POSTs were sent, and each only after the one before has been read and
// the code that read it has run, so the last connection asked for is the last one opened.
(() => {
  "use strict";
  const PATH = /\/set-session-cookie$/;
  // A request whose answer is never read must not hold the next one for ever.
  const RELEASE_AFTER_MS = 5000;
  const originalFetch = window.fetch.bind(window);
  let turn = Promise.resolve();

  const pathOf = (input) => {
    const url = typeof input === "string" || input instanceof URL ? String(input) : input.url;
    return new URL(url, window.location.href).pathname;
  };

  window.fetch = (input, init) => {
    if (!PATH.test(pathOf(input))) {
      return originalFetch(input, init);
    }
    let release;
    const released = new Promise((resolve) => { release = resolve; });
    const previous = turn;
    turn = released;
    const timer = window.setTimeout(release, RELEASE_AFTER_MS);
    // A macrotask later: the reader's own continuation (opening its socket) has run by then.
    const releaseSoon = () => { window.clearTimeout(timer); window.setTimeout(release, 0); };

    const answered = originalFetch(input, init).then(async (response) => {
      const body = await response.text();
      return { body, status: response.status, statusText: response.statusText, headers: response.headers };
    });
    return previous.then(() => answered).then(
      ({ body, status, statusText, headers }) => {
        const response = new Response(status === 204 ? null : body, { status, statusText, headers });
        for (const read of ["json", "text"]) {
          const original = response[read].bind(response);
          response[read] = () => original().finally(releaseSoon);
        }
        return response;
      },
      (error) => { releaseSoon(); throw error; },
    );
  };
})();
