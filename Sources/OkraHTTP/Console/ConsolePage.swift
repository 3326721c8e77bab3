/// The operator console's page (`GET /console` on the admin listener): HTML whose script and
/// style are served beside it (`/console/console.js`, `/console/console.css`), compiled into the
/// binary as code, so an image that copies only the binary serves it. No build step, no CDN, no
/// third-party code; the Content-Security-Policy of every admin answer forbids anything else
/// (``AdminHeaders``). The script talks only to the admin API, with the token the operator types
/// (kept in `sessionStorage`), and inserts every value as text.
enum ConsolePage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>okra-bridge console</title>
<link rel="icon" href="/console/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/console.css">
<script src="/console/console.js" defer></script>
</head>
<body>
<header class="bar">
  <h1>okra-bridge console</h1>
  <p id="who" class="who" aria-live="polite"></p>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<main>
  <section id="sign-in" aria-labelledby="sign-in-title">
    <h2 id="sign-in-title">Sign in</h2>
    <p>Paste an admin token (a line's secret from <code>--admin-token-file</code>). It stays in this tab's session storage and is sent only to this bridge's admin API.</p>
    <form id="sign-in-form" autocomplete="off" method="post" action="#">
      <label for="token">Admin token</label>
      <input id="token" type="password" autocomplete="off" spellcheck="false" required>
      <button type="submit">Sign in</button>
    </form>
    <p id="sign-in-error" class="error" role="alert"></p>
  </section>

  <div id="app" hidden>
    <section id="status" aria-labelledby="status-title" class="panel">
      <h2 id="status-title">Health</h2>
      <dl id="status-list" class="facts"></dl>
      <p id="status-error" class="error" role="alert"></p>
    </section>

    <nav class="tabs" aria-label="Views">
      <button type="button" id="tab-search" class="tab" aria-pressed="true">Events</button>
      <button type="button" id="tab-parked" class="tab" aria-pressed="false">Parked records</button>
    </nav>

    <p id="off" class="error" role="alert" hidden></p>

    <section id="search" aria-labelledby="search-title">
      <h2 id="search-title" tabindex="-1">Search the event log</h2>
      <form id="search-form" class="filters">
        <label>Since (your time zone) <input name="since" type="datetime-local" step="1"></label>
        <label>Until (your time zone) <input name="until" type="datetime-local" step="1"></label>
        <label>Record <input name="record" spellcheck="false"></label>
        <label>Customer <input name="customer" spellcheck="false"></label>
        <label>Account <input name="account" spellcheck="false"></label>
        <label>Event id <input name="id" spellcheck="false"></label>
        <label>Type <input name="type" spellcheck="false" placeholder="okra.payment.*"></label>
        <label>Product <select name="product"><option value="">any</option><option>auth</option><option>identity</option><option>accounts</option><option>balance</option><option>transactions</option><option>income</option><option>payment</option><option>record</option><option>user</option><option>widget</option><option>unknown</option></select></label>
        <label>Outcome <select name="outcome"><option value="">any</option><option>success</option><option>failed</option><option>cancelled</option><option>deleted</option><option>updated</option><option>disconnected</option><option>reauth_required</option><option>event</option><option>unknown</option></select></label>
        <label>Environment <select name="env"><option value="">any</option><option>production</option><option>sandbox</option><option>unknown</option></select></label>
        <label>Code <input name="code" spellcheck="false"></label>
        <label>State <select name="state"><option value="">any</option><option>pending</option><option>published</option><option>parked</option><option>dropped</option></select></label>
        <label>Dead letters <select name="deadletter"><option value="">both</option><option value="true">only</option><option value="false">none</option></select></label>
        <div class="actions">
          <button type="submit">Search</button>
          <button type="button" id="replay-search" data-needs="operate">Replay these…</button>
        </div>
      </form>
      <p id="search-error" class="error" role="alert"></p>
      <table id="results" class="rows">
        <caption id="results-caption" tabindex="-1">Newest first.</caption>
        <thead><tr><th scope="col">Received</th><th scope="col">Type</th><th scope="col">Record</th><th scope="col">Customer</th><th scope="col">State</th><th scope="col">Records</th><th scope="col">Replays</th></tr></thead>
        <tbody></tbody>
      </table>
      <button type="button" id="more" hidden>Older entries</button>
    </section>

    <section id="event" aria-labelledby="event-title" hidden>
      <h2 id="event-title" tabindex="-1">Event</h2>
      <div id="event-body"></div>
      <div class="actions">
        <button type="button" id="replay-event" data-needs="operate">Replay this event…</button>
        <button type="button" id="back">Back to the results</button>
      </div>
    </section>

    <section id="replay" aria-labelledby="replay-title" class="panel" hidden>
      <h2 id="replay-title" tabindex="-1">Replay</h2>
      <div id="replay-plan"></div>
      <p id="replay-error" class="error" role="alert"></p>
      <div class="actions">
        <button type="button" id="replay-execute">Execute</button>
        <button type="button" id="replay-cancel">Cancel</button>
      </div>
    </section>

    <section id="parked" aria-labelledby="parked-title" hidden>
      <h2 id="parked-title">Parked records</h2>
      <p>Records Kafka refused for good. Redrive puts them back at the end of the outbox; discard gives them up.</p>
      <table id="parked-list" class="rows">
        <thead><tr><th scope="col"><span class="hidden-label">Select</span></th><th scope="col">Parked</th><th scope="col">Topic</th><th scope="col">Event</th><th scope="col">Error</th></tr></thead>
        <tbody></tbody>
      </table>
      <div class="actions">
        <button type="button" id="redrive-selected" data-needs="operate">Redrive selected…</button>
        <button type="button" id="discard-selected" data-needs="operate">Discard selected…</button>
        <button type="button" id="redrive-all" data-needs="operate">Redrive all…</button>
        <button type="button" id="discard-all" data-needs="operate">Discard all…</button>
      </div>
      <p id="parked-more" class="needs"></p>
      <div id="parked-confirm" class="panel" hidden>
        <p id="parked-question"></p>
        <button type="button" id="parked-yes">Confirm</button>
        <button type="button" id="parked-no">Cancel</button>
      </div>
      <p id="parked-result" role="status" tabindex="-1"></p>
      <p id="parked-error" class="error" role="alert"></p>
    </section>
  </div>
</main>
</body>
</html>
"""#
}
