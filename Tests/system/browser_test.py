"""Real-browser test of the web UI: Debian's chromium driven by selenium against `sluice serve`
on a loopback port.

Signs in, filters the audit log by actor and by dates (UTC and the browser's own time zone),
opens an entry, exports CSV and checks the downloaded rows, rotates a feed secret and pushes with
it, shows that a form posted without its CSRF token is refused and that a viewer cannot rotate,
and writes a screenshot of every page (1280x800) to --screenshots.
"""
import argparse
import csv
import glob
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from sluice_harness import Checks, SluiceProcess, free_port, write_config  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

ADMIN = "browser-test-admin-token"
FEED_SECRET = "browser-test-feed-secret"
# The browser runs in India's zone (UTC+05:30, no daylight saving), so local dates differ from UTC ones.
BROWSER_TZ = "Asia/Kolkata"


def request(port, path, method="GET", body=None, headers=None):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def push(port, secret, lines):
    return request(port, "/v1/feeds/default/events", "POST", "\n".join(json.dumps(x) for x in lines),
                   {"X-Webhook-Access-Key": secret})[0]


def entries():
    """30 incident.io audit entries: three actors (one hostile) over three days of March 2026."""
    actors = [("Alice Admin", "user"), ("deploy-bot", "api_key"), ('=HYPERLINK("http://x","y")<script>', "user")]
    out = []
    for i in range(30):
        name, kind = actors[i % 3]
        day = 1 + i % 3
        out.append({
            "id": f"e{i}", "action": "user.updated" if i % 2 else "schedule.created", "version": 1,
            "occurred_at": f"2026-03-0{day}T10:{i:02d}:00Z",
            "actor": {"type": kind, "id": f"actor-{i % 3}", "name": name},
            "targets": [{"type": "user", "id": f"target-{i}", "name": f"Target {i}"}],
            "context": {"location": "203.0.113.7", "user_agent": "browser-test"},
        })
    # 20:00 UTC on 1 March is 01:30 on 2 March in the browser's zone.
    out.append({"id": "late", "action": "user.deleted", "version": 1, "occurred_at": "2026-03-01T20:00:00Z",
                "actor": {"type": "user", "id": "owl", "name": "Night Owl"}, "targets": [], "context": {}})
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--screenshots", default=".build/ui-screenshots")
    args = parser.parse_args()
    check = Checks()
    shots = os.path.abspath(args.screenshots)
    shutil.rmtree(shots, ignore_errors=True)
    os.makedirs(shots)

    with tempfile.TemporaryDirectory(prefix="sluice-browser-") as tmp:
        config = write_config(
            os.path.join(tmp, "sluice.yaml"),
            destinations=f"  archive:\n    type: file\n    path: {tmp}/archive\n",
            routes="  - { from: [default], to: [archive] }\n",
        )
        # A collector and a workflow whose remote ends are a closed loopback port: their runs fail
        # at once, so the pages show a stream with its error and a failed run with Retry.
        closed = free_port()
        with open(config, "a") as f:
            f.write(f"""collectors:
  incydr:
    type: code42_incydr
    allow_private_networks: true
    base_url: http://127.0.0.1:{closed}
    client_id: key-browser-test
    client_secret: "${{env:INCYDR_SECRET}}"
    streams: [file_events, audit]
    schedule: {{ every: 1h }}
    retry: {{ attempts: 1, base_delay: 1s, max_delay: 1s }}
workflows:
  alert-to-ticket:
    allow_private_networks: true
    retry: {{ request_attempts: 1, run_attempts: 1 }}
    trigger:
      feeds: [default]
      condition: {{ path: $.action, equals: alert.raised }}
    steps:
      - id: ticket
        http_request: {{ method: POST, url: "http://127.0.0.1:{closed}/tickets", json: {{ title: "{{{{ alert.title }}}}" }} }}
""")
        os.environ["INCYDR_SECRET"] = "browser-test-incydr-secret"
        server = SluiceProcess(args.binary, os.path.join(tmp, "data"), ADMIN, FEED_SECRET, os.path.join(tmp, "server.log"), config=config).start()
        downloads = os.path.join(tmp, "downloads")
        os.makedirs(downloads)
        driver = None
        try:
            check("31 entries pushed", push(server.port, FEED_SECRET, entries()) == 200)
            status, body = request(server.port, "/v1/admin-tokens", "POST", json.dumps({"name": "vera", "role": "viewer"}),
                                   {"Authorization": f"Bearer {ADMIN}"})
            viewer = json.loads(body)["token"]

            options = webdriver.ChromeOptions()
            options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
            for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"):
                options.add_argument(flag)
            options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
            service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver", env=dict(os.environ, TZ=BROWSER_TZ))
            driver = webdriver.Chrome(options=options, service=service)
            driver.set_window_size(1280, 800)
            base = f"http://127.0.0.1:{server.port}"

            def shot(name):
                driver.save_screenshot(os.path.join(shots, f"{name}.png"))

            def navigate(element):
                """Clicks something that loads a page and waits until the new page replaced the old one.

                The old page is marked with a window variable, which a new document does not have;
                while chromium swaps documents a script may fail, which counts as not loaded yet."""
                driver.execute_script("window.sluiceOldPage = true")
                element.click()

                def loaded(d):
                    try:
                        return d.execute_script("return !window.sluiceOldPage && document.readyState === 'complete'")
                    except WebDriverException:
                        return False
                WebDriverWait(driver, 20).until(loaded)

            def rows():
                return driver.find_elements(By.CSS_SELECTOR, "table tbody tr")

            def sign_in(token):
                driver.get(base + "/ui/events")
                driver.find_element(By.ID, "token").send_keys(token)
                navigate(driver.find_element(By.CSS_SELECTOR, "form.signin button"))

            # Sign-in.
            driver.get(base + "/ui/events")
            check("an anonymous visitor is sent to the sign-in page", driver.current_url.endswith("/ui/sign-in"))
            shot("01-sign-in")
            sign_in(ADMIN)
            check("signing in shows the audit log", driver.find_element(By.TAG_NAME, "h1").text == "Audit log")
            shot("02-audit-log")

            # Integrity: "Verify now" verifies the whole store, and the audit log then says what it found.
            check("the audit log carries an integrity line", driver.find_element(By.ID, "integrity").text.startswith("Integrity:"))
            navigate(driver.find_element(By.LINK_TEXT, "Verify now"))
            verdict = driver.find_element(By.ID, "verdict").text
            # Nothing is covered yet (the first checkpoint comes within the interval), and the page says so.
            check("Verify now verifies the store: nothing proven yet, nothing wrong", driver.find_element(By.TAG_NAME, "h1").text == "Integrity"
                  and verdict.startswith("Nothing proven yet") and not driver.find_elements(By.CSS_SELECTOR, "ul.problems"), verdict)
            shot("02-integrity")
            driver.get(base + "/ui/events")

            # Filter by actor.
            driver.find_element(By.ID, "f-actor").send_keys("Alice Admin")
            navigate(driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]"))
            actor_rows = rows()
            check("filtering by actor shows only that actor's 10 entries",
                  len(actor_rows) == 10 and all("Alice Admin" in r.text for r in actor_rows), f"{len(actor_rows)} rows")
            shot("03-filtered-by-actor")

            # The histogram above the list: its bars add up to the API's count, and a bar opens its own range.
            driver.get(base + "/ui/events?since=2026-03-01&until=2026-03-04")
            bars = driver.find_elements(By.CSS_SELECTOR, "#histogram a[data-events]")
            counts = [int(b.get_attribute("data-events")) for b in bars]
            status, body = request(server.port, "/v1/events/histogram?since=2026-03-01&until=2026-03-04", headers={"Authorization": f"Bearer {ADMIN}"})
            api = json.loads(body) if status == 200 else {}
            check("the chart's bars add up to the histogram API's count of 1-3 March (31 entries)",
                  len(bars) == len(api.get("buckets", [])) and sum(counts) == api.get("total") == 31, f"{len(bars)} bars, {sum(counts)} events, API {api.get('total')}")
            shot("03b-histogram-and-facets")
            busiest = max(range(len(bars)), key=lambda i: counts[i]) if bars else 0
            start, end = (bars[busiest].get_attribute("data-start"), bars[busiest].get_attribute("data-end")) if bars else ("", "")
            if bars:
                navigate(bars[busiest].find_elements(By.CSS_SELECTOR, "rect")[-1])
            bar_rows = rows()
            times = [r.find_elements(By.TAG_NAME, "td")[0].text for r in bar_rows]
            check("a bar opens its time range: exactly its entries, all inside it",
                  counts and len(bar_rows) == counts[busiest] and all(start <= t < end for t in times), f"{len(bar_rows)} rows for {counts[busiest] if counts else 0}, {start}..{end}")
            # A facet value adds itself to the filter.
            driver.get(base + "/ui/events?since=2026-03-01&until=2026-03-04")
            actor_link = driver.find_element(By.CSS_SELECTOR, "aside.facets section[data-field=actor] li a")
            actor_name = actor_link.text
            actor_count = int(actor_link.find_element(By.XPATH, "following-sibling::span").text)
            navigate(actor_link)
            facet_rows = rows()
            check("the top actor's facet link filters to exactly its entries (the hostile name escaped)",
                  len(facet_rows) == actor_count == 10 and all(actor_name in r.text for r in facet_rows)
                  and driver.find_element(By.ID, "f-actor").get_attribute("value") == actor_name, f"{actor_name!r}: {len(facet_rows)} rows, facet said {actor_count}")

            # Filter by dates, UTC: 2 March only.
            driver.get(base + "/ui/events")
            driver.find_element(By.ID, "f-since").send_keys("2026-03-02")
            driver.find_element(By.ID, "f-until").send_keys("2026-03-03")
            navigate(driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]"))
            utc_rows = rows()
            check("a UTC date range shows that day's 10 entries", len(utc_rows) == 10 and not any("Night Owl" in r.text for r in utc_rows),
                  f"{len(utc_rows)} rows")
            # The same dates in the browser's zone (UTC+05:30) take in the entry of 20:00 UTC on 1 March.
            Select(driver.find_element(By.ID, "f-zone")).select_by_value("local")
            navigate(driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]"))
            local_rows = rows()
            owl = [r for r in local_rows if "Night Owl" in r.text]
            check("the same dates in the browser's time zone include the late entry, shown in local time",
                  len(owl) == 1 and "2026-03-02T01:30:00" in owl[0].text and "+05:30" in owl[0].text, " | ".join(r.text for r in local_rows[:3]))
            shot("04-filtered-by-local-dates")

            # An entry.
            navigate(owl[0].find_element(By.TAG_NAME, "a"))
            raw = driver.find_element(By.CSS_SELECTOR, "pre.raw").text
            check("an entry shows its fields and the raw JSON pretty-printed", '"name": "Night Owl"' in raw and "\n" in raw)
            shot("05-entry")

            # Export CSV of the actor filter (the hostile actor, to check neutralization).
            driver.get(base + "/ui/events?actor=actor-2")
            driver.find_element(By.LINK_TEXT, "CSV").click()
            deadline = time.time() + 20
            files = []
            while time.time() < deadline:
                files = [f for f in glob.glob(os.path.join(downloads, "*.csv"))]
                if files and not glob.glob(os.path.join(downloads, "*.crdownload")):
                    break
                time.sleep(0.2)
            exported = []
            if files:
                with open(files[0], newline="") as f:
                    exported = list(csv.DictReader(f))
            names = {row.get("actor_name") for row in exported}
            check("the CSV export holds exactly the filter's 10 rows", len(exported) == 10, f"{len(exported)} rows in {files}")
            check("a cell starting with = is neutralized in the CSV", names == {"'=HYPERLINK(\"http://x\",\"y\")<script>"}, str(names))
            check("the hostile actor is escaped in the page, not run", "<script>" in driver.find_element(By.CSS_SELECTOR, "table tbody").text)

            # Feeds: rotate the default feed's secret, see it once, push with it.
            driver.get(base + "/ui/feeds")
            check("the feeds page counts the pushed entries", "31" in driver.find_element(By.CSS_SELECTOR, "table tbody").text)
            driver.find_element(By.ID, "um-secret").send_keys(FEED_SECRET)
            made = driver.find_element(By.ID, "um-url").get_attribute("value")
            check("the URL maker fills in the secret", made.startswith(base + "/v1/feeds/default/events?secret="), made.replace(FEED_SECRET, "…"))
            shot("06-feeds")
            Select(driver.find_element(By.ID, "grace-default")).select_by_value("1h")
            navigate(driver.find_element(By.XPATH, "//button[text()='Rotate secret of default']"))
            secret = driver.find_element(By.ID, "ns-secret").get_attribute("value")
            url = driver.find_element(By.ID, "ns-url").get_attribute("value")
            check("the new secret is shown with its push URL", secret.startswith("sluice_feed_") and secret in url)
            shot("07-new-secret")
            check("a push with the new secret is accepted", push(server.port, secret, [{"id": "after-rotation", "action": "x"}]) == 200)
            check("the old secret still works during its grace period", push(server.port, FEED_SECRET, [{"id": "grace", "action": "x"}]) == 200)
            driver.get(base + "/ui/feeds")
            check("the secret is not shown again", secret not in driver.page_source)

            # The collector's first run and the alert's workflow run fail against the closed port.
            check("an alert for the workflow is pushed", push(server.port, FEED_SECRET, [{"id": "alert-1", "action": "alert.raised", "title": "Disk <b>full</b>"}]) == 200)
            deadline = time.time() + 60
            while time.time() < deadline:
                driver.get(base + "/ui/workflows")
                if driver.find_elements(By.XPATH, "//button[starts-with(text(), 'Retry run')]"):
                    break
                time.sleep(0.5)
            shot("08-workflows")
            retry = driver.find_elements(By.XPATH, "//button[starts-with(text(), 'Retry run')]")
            check("the failed workflow run is listed with a Retry button", len(retry) == 1)
            if retry:
                navigate(retry[0])
                check("Retry queues the run again", "queued again" in driver.find_element(By.CSS_SELECTOR, "p.notice").text)
            deadline = time.time() + 60
            while time.time() < deadline:
                driver.get(base + "/ui/collectors")
                if "127.0.0.1" in driver.find_element(By.CSS_SELECTOR, "table tbody").text:
                    break
                time.sleep(0.5)
            shot("08-collectors")
            collectors_text = driver.find_element(By.TAG_NAME, "main").text
            check("the collectors page shows each stream's last error", "file_events" in collectors_text and "127.0.0.1" in collectors_text
                  and "browser-test-incydr-secret" not in driver.page_source)
            # The schedule as the config writes it; the refused connection counted as a request.
            check("the collectors page shows the schedule as configured", "every 1h" in collectors_text, collectors_text[:300])
            rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "table tbody tr")]
            check("the collectors page counts the failed run's request", rows and all(" 1 (0)" in row for row in rows), rows)
            for name in ("destinations",):
                driver.get(base + f"/ui/{name}")
                shot(f"08-{name}")
            check("the destinations page shows the archive, sending", "archive" in driver.find_element(By.TAG_NAME, "main").text
                  and "sending" in driver.find_element(By.TAG_NAME, "main").text)

            # A form posted without its CSRF token is refused, and nothing changes.
            driver.execute_script("document.querySelector('form[action$=\"/pause\"] input[name=csrf]').remove()")
            driver.find_element(By.ID, "pause-archive").send_keys("forged")
            navigate(driver.find_element(By.XPATH, "//button[text()='Pause archive']"))
            check("a form without its CSRF token is refused", "CSRF" in driver.find_element(By.CSS_SELECTOR, "p.error").text)
            shot("09-csrf-refused")
            driver.get(base + "/ui/destinations")
            check("the destination was not paused", "sending" in driver.find_element(By.TAG_NAME, "main").text)

            # A viewer sees no rotate form, and a crafted post with the session's CSRF token is refused.
            navigate(driver.find_element(By.CSS_SELECTOR, "form.signout button"))
            # Let the sign-out and its redirect finish: the sign-in page it loads sets the form's CSRF cookie.
            WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/ui/sign-in") and d.find_elements(By.ID, "token"))
            check("the sign-in page shows no error", not driver.find_elements(By.CSS_SELECTOR, "p.error"))
            sign_in(viewer)
            check("the viewer is signed in", "vera (viewer)" in driver.find_element(By.TAG_NAME, "header").text)
            driver.get(base + "/ui/feeds")
            check("a viewer sees no rotate button", not driver.find_elements(By.XPATH, "//button[starts-with(text(), 'Rotate secret')]"))
            shot("10-feeds-as-viewer")
            # The page's CSP forbids scripts from making requests, so the crafted post is a form
            # added to the page, carrying the session's own CSRF token.
            driver.execute_script("""
                const form = document.createElement('form');
                form.method = 'post';
                form.action = '/ui/feeds/default/rotate';
                for (const [name, value] of [['csrf', document.querySelector('input[name=csrf]').value], ['grace', '0s']]) {
                    const input = document.createElement('input');
                    input.type = 'hidden'; input.name = name; input.value = value;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            """)
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "p.error"))
            refusal = driver.find_element(By.CSS_SELECTOR, "p.error").text
            check("a viewer cannot rotate a secret", "viewer token" in refusal and "ns-secret" not in driver.page_source, refusal)
            shot("11-viewer-refused")
            check("the rotated secret still works", push(server.port, secret, [{"id": "viewer-tried", "action": "x"}]) == 200)
        finally:
            if driver:
                driver.quit()
            code = server.signal(15)
            check("SIGTERM exits 0", code == 0, f"exit code {code}")
            if check.failed:
                with open(os.path.join(tmp, "server.log"), errors="replace") as f:
                    print("server log (last lines):\n" + "".join(f.readlines()[-20:]))
    print(f"screenshots: {', '.join(sorted(os.listdir(shots)))} in {shots}")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
