#!/usr/bin/env python3
"""The operator console in Debian's chromium, driven by Playwright, against a live bridge that
scripts/test-console.sh started and seeded. Each step saves a screenshot in --shots; any failed
check ends the run with exit 1 and says which.

The tokens come from the files named by OKRA_CONSOLE_OPERATE_TOKEN_FILE and
OKRA_CONSOLE_READ_TOKEN_FILE, never from argv.
"""
import argparse
import http.client
import json
import os
import pathlib
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
RECORD = "console-rec-1"
CUSTOMER = "console-cus-1"
MARKUP = "<script>window.injected=1</script><img src=x>"
MARKUP_RECORD = "console-<img src=x onerror=window.injected=2>"

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


def post(port, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/webhooks/okra", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    text = answer.read()
    connection.close()
    return answer.status, json.loads(text or b"{}")


def seed(port):
    """The console's own events: one to search and replay, one with markup in its values (test-console.sh
    stored one too large for Kafka before)."""
    status, answer = post(port, {"type": "CALLBACK", "method": "PAYMENT", "code": "PAYMENT_SUCCESS", "env": "production",
                                 "record": RECORD, "customerId": CUSTOMER, "amount": 1200,
                                 "customer": {"name": "Ada Example", "bvn": "22212345678"}})
    check(status == 200, "the searchable event was accepted")
    event_id = answer.get("id")
    status, _ = post(port, {"type": "CALLBACK", "method": "PAYMENT", "code": "PAYMENT_FAILED", "env": "production",
                            "record": MARKUP_RECORD, "customerId": "cus-<b>markup</b>", "note": MARKUP})
    check(status == 200, "the event with markup was accepted")
    return event_id


def records_on_kafka(bootstrap, topic, event_id, want, timeout=30):
    """The records of `event_id` on `topic` (read from the beginning), once `want` are there or `timeout` passed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"console-{time.time()}", "enable.auto.commit": False,
                         "session.timeout.ms": 6000})
    found = []
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = [TopicPartition(topic, p, 0) for p in metadata.topics[topic].partitions] if topic in metadata.topics else []
        if not partitions:
            return found
        consumer.assign(partitions)
        deadline = time.time() + timeout
        while time.time() < deadline and len(found) < want:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            headers = dict((name, value.decode() if value else "") for name, value in (message.headers() or []))
            if headers.get("idempotency-key") == event_id or headers.get("ce_id") == event_id:
                found.append(headers)
    finally:
        consumer.close()
    return found


class Console:
    def __init__(self, browser, base, shots, width=1280, height=900):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.base = base
        self.shots = shots
        self.console_errors = []
        self.requests = []
        # The page asks GET /admin/token without a token once, to learn whether the API is on:
        # its 401 is expected, and the browser logs it as a failed load.
        self.page.on("console", lambda message: self.console_errors.append(message.text)
                     if message.type in ("error", "warning") and "status of 401" not in message.text else None)
        self.page.on("request", lambda request: self.requests.append((request.url, request.headers.get("authorization"))))
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.page.on("response", lambda response: self.console_errors.append(f"{response.status} {response.url}")
                     if response.status >= 400 and not (response.status == 401 and response.url.endswith("/admin/token")) else None)

    def shot(self, name):
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def open(self, fragment=""):
        return self.page.goto(self.base + "/console" + fragment)

    def sign_in(self, token):
        self.page.fill("#token", token)
        self.page.click("#sign-in-form button[type=submit]")
        self.page.wait_for_selector("#who:not(:empty)")

    @classmethod
    def signed_in(cls, browser, port, shots, token, shown):
        """A console on another bridge's admin port, signed in, once `shown` (a script) is true."""
        console = cls(browser, f"http://127.0.0.1:{port}", shots)
        console.open()
        console.sign_in(token)
        until(console.page, shown)
        return console

    def health(self):
        """The health panel's facts, by name, once shown."""
        self.page.wait_for_selector("#status-list div")
        return dict(zip(self.page.locator("#status-list dt").all_text_contents(), self.page.locator("#status-list dd").all_text_contents()))

    def search(self, **filters):
        for name in ("record", "customer", "account", "id", "type", "code"):
            self.page.fill(f"#search-form [name={name}]", filters.get(name, ""))
        self.page.click("#search-form button[type=submit]")
        self.wait_results()

    def wait_results(self):
        until(self.page, "(() => { const text = document.querySelector('#results-caption').textContent; "
                         "return text.length > 0 && text !== 'Newest first.' && !text.startsWith('Searching'); })()")

    def parked_until_listed(self, attempts=60):
        """Opens the parked tab until its list, fully loaded, shows a record (parking takes the
        publisher a moment); returns how many it shows. Each click reloads the list, so the count
        is read only once the table is no longer aria-busy."""
        listed = 0
        for _ in range(attempts):
            self.page.click("#tab-parked")
            until(self.page, "document.querySelector('#parked-list').getAttribute('aria-busy') === 'false'")
            listed = self.page.locator("#parked-list tbody input[type=checkbox]").count()
            if listed:
                break
            time.sleep(0.5)
        return listed

    def rows(self):
        return self.page.locator("#results tbody tr")

    def close(self):
        self.context.close()


def until(page, expression, timeout=20):
    """Evaluates `expression` in the page until it is true (Playwright's wait_for_function
    evaluates strings in a way the page's CSP refuses, as it should)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if page.evaluate(expression):
            return True
        time.sleep(0.1)
    raise TimeoutError(f"never true: {expression}")


def focus_visible(page):
    return page.evaluate("""() => {
        const element = document.activeElement;
        if (!element || element === document.body) return false;
        const style = getComputedStyle(element);
        return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    }""")


def tab_to(page, selector, limit=60):
    """Presses Tab until `selector` has the focus; False if it never does."""
    for _ in range(limit):
        if page.evaluate("(selector) => document.activeElement && document.activeElement.matches(selector)", selector):
            return True
        page.keyboard.press("Tab")
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhook-port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--shots", required=True)
    parser.add_argument("--direct-admin-port", type=int, help="the admin listener of a bridge in direct mode (no event log)")
    parser.add_argument("--tokenless-admin-port", type=int, help="the admin listener of a bridge without admin tokens")
    parser.add_argument("--logless-admin-port", type=int, help="the admin listener of a durable bridge with the event log off (--retain 0)")
    args = parser.parse_args()
    operate = pathlib.Path(os.environ["OKRA_CONSOLE_OPERATE_TOKEN_FILE"]).read_text().strip()
    read = pathlib.Path(os.environ["OKRA_CONSOLE_READ_TOKEN_FILE"]).read_text().strip()
    shots = pathlib.Path(args.shots)
    base = f"http://127.0.0.1:{args.admin_port}"
    event_id = seed(args.webhook_port)
    topic = f"{args.prefix}.production.payment.success"

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        except PlaywrightError as error:
            print(f"FAIL the browser did not start: Debian's chromium at /usr/bin/chromium under Playwright {playwright_version()}: {error}",
                  file=sys.stderr)
            return 1
        print(f"chromium {browser.version}, playwright {playwright_version()}", flush=True)

        # 1. The page and its headers; sign in with the operate token.
        console = Console(browser, base, shots)
        response = console.open()
        headers = response.headers
        check(response.status == 200, "GET /console answers 200")
        check(headers.get("content-security-policy") == CSP, "the page's Content-Security-Policy is the contract's")
        check(headers.get("x-content-type-options") == "nosniff" and headers.get("referrer-policy") == "no-referrer",
              "nosniff and no-referrer")
        console.shot("01-sign-in")
        console.sign_in(operate)
        check("console-operate" in console.page.text_content("#who"), "signed in: the token's name and scopes are shown")
        check(console.page.evaluate("sessionStorage.getItem('okra-bridge.admin-token')") == operate and console.page.input_value("#token") == "",
              "the token is in sessionStorage, and no longer in the field")
        facts = console.health()
        check(facts.get("Ready") == "ready" and facts.get("Kafka", "").startswith("ok") and facts.get("Outbox", "").endswith("pending")
              and facts.get("Parked", "").isdigit() and "used" in facts.get("Data volume", ""), f"health at a glance: ready, Kafka, outbox, parked, volume ({facts})")
        console.shot("02-signed-in")

        # 2. Search by record and by customer; the fragment keeps the filters.
        console.search(record=RECORD)
        check(console.rows().count() == 1 and RECORD in console.rows().first.text_content(), "search by record finds the event")
        check("record=" + RECORD in console.page.url, "the URL's fragment keeps the filters")
        console.shot("03-search-record")
        console.search(customer=CUSTOMER)
        check(console.rows().count() == 1 and CUSTOMER in console.rows().first.text_content(), "search by customer finds it")
        shared = console.page.url
        console.shot("04-search-customer")

        # 3. One event: its records and their states (published once Kafka has it).
        for _ in range(40):
            console.rows().first.locator("button").click()
            console.page.wait_for_selector("#event-body table")
            if "published" in console.page.text_content("#event-body table.records"):
                break
            time.sleep(0.5)
            console.page.click("#back")
        body = console.page.text_content("#event-body")
        check(topic in body and "published" in body, "the event shows its record: topic and state published")
        check(event_id in console.page.text_content("#event-id"), "the event id is shown with a copy button")
        cli = console.page.text_content("#cli")
        check("$OKRA_BRIDGE_ADMIN_TOKEN" in cli and operate not in cli, "the curl/CLI line names the variable, never the token")
        check(not console.page.is_visible("#payload pre"), "the payload is folded")
        console.page.click("#payload summary")
        check("Ada Example" in console.page.text_content("#payload pre"), "the operate token sees the payload in clear")
        console.shot("05-event")

        # 4. Replay: the dry run's counts, then execute; the copy is on Kafka.
        console.page.click("#replay-event")
        console.page.wait_for_selector("#replay-counts")
        check("Would publish: 1 events, 1 records" in console.page.text_content("#replay-counts"), "the dry run counts one event, one record")
        check(topic in console.page.text_content("#replay-plan"), "the dry run names the topic")
        console.shot("06-replay-dry-run")
        console.page.click("#replay-execute")
        until(console.page, "document.querySelector('#replay-counts') && document.querySelector('#replay-counts').textContent.startsWith('Published')")
        check("Published: 1 events, 1 records" in console.page.text_content("#replay-counts"), "executed: the answer is shown")
        console.shot("07-replay-done")
        copies = records_on_kafka(args.bootstrap, topic, event_id, 2)
        check(len(copies) == 2 and any(h.get("okra-bridge-replay") == "true" for h in copies),
              f"the original and the replay are on Kafka ({len(copies)} found)")
        console.page.click("#replay-cancel")

        # 5. Parked records: the big one, redriven after a confirmation.
        listed = console.parked_until_listed()
        check(listed >= 1, "the record too large for Kafka is parked and listed")
        # Two loads under way at once draw the list once, not twice.
        console.page.evaluate("(() => { const tab = document.querySelector('#tab-parked'); tab.click(); tab.click(); })()")
        until(console.page, "document.querySelector('#parked-list').getAttribute('aria-busy') === 'false'")
        check(console.page.locator("#parked-list tbody input[type=checkbox]").count() == listed,
              "two clicks in a row list each parked record once")
        check("too" in console.page.text_content("#parked-list tbody").lower(), "with its error")
        console.shot("08-parked")
        console.page.locator("#parked-list tbody input[type=checkbox]").first.check()
        console.page.click("#redrive-selected")
        check(console.page.is_visible("#parked-confirm"), "redrive asks for a confirmation first")
        console.page.click("#parked-yes")
        until(console.page, "document.querySelector('#parked-result').textContent.length > 0")
        check("1 redriven" in console.page.text_content("#parked-result"), "redrive: 1 redriven")
        console.shot("09-redriven")
        # Still too large: parked again, and this time discarded.
        check(console.parked_until_listed() >= 1, "the redriven record is parked again")
        console.page.locator("#parked-list tbody input[type=checkbox]").first.check()
        console.page.click("#discard-selected")
        console.page.click("#parked-yes")
        until(console.page, "document.querySelector('#parked-result').textContent.includes('discarded')")
        check("1 discarded" in console.page.text_content("#parked-result"), "discard: 1 discarded")

        # 6. Markup in a payload's values is text.
        console.page.click("#tab-search")
        console.search(record=MARKUP_RECORD)
        check(MARKUP_RECORD in console.rows().first.text_content() and "cus-<b>markup</b>" in console.rows().first.text_content()
              and console.page.evaluate("document.querySelectorAll('#results img, #results b').length") == 0,
              "markup in the record and customer ids is text in the results")
        console.rows().first.locator("button").click()
        console.page.wait_for_selector("#event-body table")
        console.page.click("#payload summary")
        check(MARKUP in console.page.text_content("#payload pre"), "a payload value with <script> is shown as text")
        check(console.page.evaluate("document.querySelectorAll('script').length") == 1 and console.page.evaluate("window.injected === undefined")
              and console.page.evaluate("document.querySelectorAll('#event-body img, #event-body b').length") == 0, "no element was made from it")
        console.shot("10-markup-as-text")

        # The token: only in sessionStorage.
        page = console.page
        check(operate not in page.content() and operate not in page.url, "the operate token is not in the DOM or the page's URL")
        check(not [url for url, _ in console.requests if operate in url], "no request's URL carries the token")
        admin = [(url, auth) for url, auth in console.requests if "/admin/" in url and not url.endswith("/admin/token")]
        check(admin and all(auth == "Bearer " + operate for _, auth in admin), f"every admin API call carried it as a bearer token ({len(admin)} calls)")
        check(page.evaluate("localStorage.length") == 0, "localStorage is empty")
        check(page.evaluate("document.cookie") == "", "no cookie")
        check(not [e for e in console.console_errors if "Content Security Policy" in e or "Refused" in e],
              f"no CSP violation in the browser's console ({console.console_errors[:3]})")
        check(not console.console_errors, f"no error in the browser's console ({console.console_errors[:3]})")
        console.page.click("#sign-out")
        check(console.page.is_visible("#token") and console.page.evaluate("sessionStorage.length") == 0
              and console.page.locator("#results tbody tr").count() == 0, "signing out forgets the token and what it read")
        console.close()

        # 7. A read token: actions it may not do are disabled with the scope; personal data masked.
        reader = Console(browser, base, shots)
        reader.open(shared[shared.index("#"):])
        reader.sign_in(read)
        check(reader.page.is_disabled("#replay-search") and "needs the operate scope" in reader.page.text_content("#search"),
              "replay is disabled for a read token, saying it needs operate")
        reader.wait_results()
        check(reader.rows().count() == 1, "the shared link's search ran")
        reader.rows().first.locator("button").click()
        reader.page.wait_for_selector("#event-body table")
        check(reader.page.is_visible("#redacted"), "the event says personal data is masked")
        reader.page.click("#payload summary")
        payload = reader.page.text_content("#payload pre")
        check("Ada Example" not in payload and "22212345678" not in payload and "***" in payload, "names and BVNs are masked")
        check(reader.page.is_disabled("#replay-event"), "replaying the event is disabled too")
        reader.page.click("#tab-parked")
        check(reader.page.is_disabled("#redrive-selected"), "redrive is disabled for a read token")
        reader.shot("11-read-token")
        check(read not in reader.page.content() and reader.page.evaluate("localStorage.length") == 0, "the read token is not in the DOM or localStorage")
        reader.close()

        # 8. Keys only: search, open an event, replay dry run, cancel; focus always visible.
        keys = Console(browser, base, shots)
        keys.open()
        keys.page.wait_for_selector("#token:focus")
        keys.page.keyboard.type(operate)
        keys.page.keyboard.press("Enter")
        keys.page.wait_for_selector("#who:not(:empty)")
        # Typing at once, while the first page still loads: the focus stays where the keys put it.
        check(tab_to(keys.page, "#search-form [name=record]") and focus_visible(keys.page), "keys: the record filter, focus visible")
        keys.page.keyboard.type(RECORD, delay=80)
        keys.page.keyboard.press("Enter")
        until(keys.page, "document.querySelectorAll('#results tbody tr').length === 1")
        check(tab_to(keys.page, "#results tbody button") and focus_visible(keys.page), "keys: the result, focus visible")
        keys.page.keyboard.press("Enter")
        keys.page.wait_for_selector("#event-body table")
        check(tab_to(keys.page, "#replay-event") and focus_visible(keys.page), "keys: replay this event, focus visible")
        keys.page.keyboard.press("Enter")
        keys.page.wait_for_selector("#replay-counts")
        check(tab_to(keys.page, "#replay-cancel") and focus_visible(keys.page), "keys: cancel, focus visible")
        keys.shot("12-keys-dry-run")
        keys.page.keyboard.press("Enter")
        check(keys.page.is_hidden("#replay") and keys.page.evaluate("document.activeElement.id") == "replay-event" and focus_visible(keys.page),
              "keys: cancelled; the focus is back on the replay button, visible")
        keys.close()

        # 9. 390 pixels wide: no horizontal scroll.
        narrow = Console(browser, base, shots, width=390, height=844)
        narrow.open()
        narrow.sign_in(operate)
        narrow.search(record=RECORD)
        wide = narrow.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        narrow.shot("13-narrow-search")
        narrow.rows().first.locator("button").click()
        narrow.page.wait_for_selector("#event-body table")
        narrow.page.click("#payload summary")
        check(wide and narrow.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "390 px wide: no horizontal scroll")
        narrow.shot("14-narrow-event")
        narrow.close()

        # 10. The operations API off: the page is served and says why.
        if args.tokenless_admin_port:
            off = Console(browser, f"http://127.0.0.1:{args.tokenless_admin_port}", shots)
            off.open()
            until(off.page, "document.querySelector('#sign-in-error').textContent.length > 0")
            check("--admin-token-file" in off.page.text_content("#sign-in-error") and off.page.is_hidden("#sign-in-form"),
                  "without admin tokens the page says the API is off, and how to turn it on, before any token is typed")
            off.shot("15-off-no-admin-token")
            off.close()
        if args.direct_admin_port:
            direct = Console.signed_in(browser, args.direct_admin_port, shots, operate, "!document.querySelector('#off').hidden")
            check("direct delivery keeps no event log" in direct.page.text_content("#off") and direct.page.is_hidden("#search"),
                  "in direct mode the page says there is no event log, once signed in")
            direct.shot("16-off-direct")
            direct.close()
        if args.logless_admin_port:
            logless = Console.signed_in(browser, args.logless_admin_port, shots, operate,
                                        "document.querySelector('#search-error').textContent.length > 0")
            check("--retain 0" in logless.page.text_content("#search-error") and logless.page.is_hidden("#off"),
                  "with the event log off the search says so, and the page is not turned off")
            facts = logless.health()
            check(facts.get("Parked", "").isdigit() and facts.get("Outbox", "").endswith("pending"), f"with the log off the health is shown ({facts})")
            logless.page.click("#tab-parked")
            until(logless.page, "document.querySelector('#parked-list').getAttribute('aria-busy') === 'false'")
            check(logless.page.text_content("#parked-error") in ("", None), "with the log off the parked records are listed")
            logless.shot("17-log-off")
            logless.close()

        readme = os.environ.get("OKRA_CONSOLE_README_SHOT")
        if readme:
            shot = Console(browser, base, shots, width=1100, height=760)
            shot.open()
            shot.sign_in(read)
            shot.search(record=RECORD)
            shot.rows().first.locator("button").click()
            shot.page.wait_for_selector("#event-body table")
            shot.page.screenshot(path=readme, full_page=False)
            shot.close()
        browser.close()

    if failures:
        print(f"\n{len(failures)} failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("\nthe console passed every check", flush=True)
    return 0


def playwright_version():
    from importlib.metadata import version
    return version("playwright")


if __name__ == "__main__":
    sys.exit(main())
