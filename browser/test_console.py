"""The web console in a real headless Chromium (Debian's, driven by Playwright) against a stack that
browser/run.sh started: the four-eyes flow across two browser contexts, live updates without a reload,
user text rendered as text, keyboard-only approval, CORS from another origin, axe-core on every page, and
screenshots at desktop and phone width."""

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

BASE = os.environ["BASE_URL"]
ART = os.environ["ARTIFACTS"]
ADA = "adaadaad-0000-4000-8000-0000000000a1"
BEN = "bebebebe-0000-4000-8000-0000000000b2"
CLEO = "c1e0c1e0-0000-4000-8000-0000000000c3"
DEV = "de0de0de-0000-4000-8000-0000000000d4"
XSS = "Describe the goal. <img src=x onerror=alert(1)> <script>alert(2)</script>"
SCHEMA = {
    "type": "object",
    "required": ["title", "priority"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "title": "Title", "minLength": 3, "maxLength": 120},
        "priority": {"enum": ["low", "medium", "high"], "title": "Priority"},
    },
}
WIDTHS = {"desktop": 1280, "phone": 360}
TIMEOUT = 15_000


def token(sub, role):
    return subprocess.run([os.environ["WORKFLOWD_BIN"], "token", "--sub", sub, "--role", role, "--ttl", "1h"],
                          check=True, capture_output=True, text=True).stdout.strip()


TOKENS = {name: token(sub, role) for name, sub, role in [
    ("ada", ADA, "Participant"), ("ben", BEN, "Participant"), ("cleo", CLEO, "Approver"), ("dev", DEV, "Admin")]}


def api(method, path, who, body=None, version=None):
    """The API as another client (an agent) would call it, to drive what the console only shows."""
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    request = urllib.request.Request(BASE + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=os.environ["CHROMIUM"], args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Person:
    """One person in their own browser context (their own session storage: their own sign-in)."""

    def __init__(self, browser, who, width=1280):
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.context.set_default_timeout(TIMEOUT)
        self.page = self.context.new_page()
        self.dialogs = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        # Refused requests are logged by the browser itself ("Failed to load resource"): expected here.
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        # The sign-in link as `make run` prints it: the token in the fragment.
        self.page.goto(f"{BASE}/#token={TOKENS[who]}")
        expect(self.page.get_by_text("Signed in as")).to_be_visible()
        assert "token" not in self.page.url, "the token stays in the address bar"

    def close(self):
        self.context.close()


def ask_approval(prompt):
    """Ben's new create-prd, started and waiting for an Approver's decision on `prompt`."""
    created = api("POST", "/api/v1/workflows", "ben", {"workflowId": "create-prd"})
    api("POST", f"/api/v1/workflows/{created['id']}/transitions", "ben", {"to": "Running"})
    api("POST", f"/api/v1/workflows/{created['id']}/transitions", "ben",
        {"to": "WaitingForApproval", "awaiting": {"prompt": prompt}})


def wait_status(page, words):
    expect(page.locator(".summary .status")).to_have_text(words)


def test_four_eyes_flow_with_live_updates_text_only_prompts_and_keyboard_approval(browser):
    ada = Person(browser, "ada")
    page = ada.page
    # New: the catalogue, the steps of the chosen definition, the parameters.
    page.get_by_role("link", name="New").click()
    page.get_by_label("Workflow").select_option("create-prd")
    expect(page.locator(".definition ol li")).to_have_count(8)
    expect(page.locator(".definition")).to_contain_text("Validate against the PM checklist")
    page.locator("fieldset.parameter").first.get_by_label("Value").fill("Apollo")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"\?page=instance&id="))
    instance_id = page.url.split("id=")[1]
    wait_status(page, "Created")
    # Only the actions the server allows are offered.
    assert page.get_by_role("button", name="Pause").count() == 0
    page.get_by_role("button", name="Start").click()
    wait_status(page, "Running")
    expect(page.get_by_role("button", name="Start")).to_have_count(0)
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.evaluate("window.__notReloaded = true")

    # An agent asks for input through the API; the open page shows it live, the prompt as text.
    current = api("GET", f"/api/v1/workflows/{instance_id}", "ada")
    api("POST", f"/api/v1/workflows/{instance_id}/transitions", "ada",
        {"to": "WaitingForInput", "awaiting": {"prompt": XSS, "schema": SCHEMA}}, version=current["version"])
    wait_status(page, "Waiting for input")
    expect(page.locator(".awaiting .prompt")).to_have_text(XSS)
    assert page.locator(".awaiting img, .awaiting script").count() == 0
    assert page.evaluate("window.__notReloaded") is True

    # The generated form: a field error from the server first, then a correct answer.
    page.get_by_label("Title (required)").fill("ab")
    page.get_by_label("Priority (required)").select_option("high")
    page.get_by_role("button", name="Send input").click()
    title_error = page.locator("#input-title-error")
    expect(title_error).to_be_visible()
    expect(title_error).to_contain_text("3")
    expect(page.get_by_label("Title (required)")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=f"{ART}/instance-field-error-desktop.png", full_page=True)
    page.get_by_label("Title (required)").fill("Checkout revamp")
    page.get_by_role("button", name="Send input").click()
    wait_status(page, "Running")
    expect(page.locator(".history")).to_contain_text("Input provided")

    # Advance to the approval gate (step 7 of 8).
    for _ in range(10):
        if page.locator(".summary .status").inner_text() == "Waiting for approval":
            break
        version = page.locator(".summary dd").nth(4).inner_text()
        page.locator(".actions form[aria-label=Advance] button[type=submit]").click()
        expect(page.locator(".summary dd").nth(4)).not_to_have_text(version)
    wait_status(page, "Waiting for approval")
    expect(page.locator(".awaiting")).to_contain_text("Approvals: 0 of 1 given")
    assert page.get_by_role("button", name="Approve").count() == 0, "the initiator cannot approve"

    # The Approver, in a second browser context, approves with the keyboard alone.
    cleo = Person(browser, "cleo")
    cleo.page.goto(f"{BASE}/?page=instance&id={instance_id}")
    expect(cleo.page.get_by_role("button", name="Approve")).to_be_visible()
    cleo.page.screenshot(path=f"{ART}/instance-approval-desktop.png", full_page=True)
    cleo.page.screenshot(path=f"{ART}/readme-console.png")  # the viewport: docs/console.png is a copy
    for _ in range(80):
        if cleo.page.evaluate("document.activeElement && document.activeElement.id") == "decision-comment":
            break
        cleo.page.keyboard.press("Tab")
    assert cleo.page.evaluate("document.activeElement.id") == "decision-comment", "the comment field is reachable by Tab"
    cleo.page.keyboard.type("Meets the checklist.")
    cleo.page.keyboard.press("Tab")
    assert cleo.page.evaluate("document.activeElement.textContent") == "Approve"
    cleo.page.keyboard.press("Enter")
    wait_status(cleo.page, "Running")

    # The Participant's page follows without a reload.
    wait_status(page, "Running")
    expect(page.locator(".history")).to_contain_text("Approved (1 of 1)")
    expect(page.locator(".history")).to_contain_text("Meets the checklist.")
    expect(page.locator(".summary")).to_contain_text("8 of 8")
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator(".live")).to_have_text(re.compile("^Live"))
    assert not ada.dialogs and not cleo.dialogs, f"a dialog opened: {ada.dialogs + cleo.dialogs}"
    assert not ada.errors and not cleo.errors, f"script errors: {ada.errors + cleo.errors}"

    # The Admin sees both Participants' instances.
    ben_instance = api("POST", "/api/v1/workflows", "ben", {"workflowId": "create-prd", "parameters": {"projectName": "Bern"}})
    dev = Person(browser, "dev")
    dev.page.goto(f"{BASE}/?workflowId=create-prd")
    table = dev.page.locator("table.instances")
    expect(table.locator(f"a[href='?page=instance&id={instance_id}']")).to_be_visible()
    expect(table.locator(f"a[href='?page=instance&id={ben_instance['id']}']")).to_be_visible()
    expect(table).to_contain_text("user adaadaad")
    expect(table).to_contain_text("user bebebebe")
    # …and Ben only his own.
    ben = Person(browser, "ben")
    ben.page.goto(f"{BASE}/?workflowId=create-prd")
    expect(ben.page.locator(f"a[href='?page=instance&id={ben_instance['id']}']")).to_be_visible()
    expect(ben.page.locator(f"a[href='?page=instance&id={instance_id}']")).to_have_count(0)
    for person in (ada, cleo, dev, ben):
        person.close()


def test_the_live_indicator_shows_a_dropped_connection_and_reconnects(browser):
    ada = Person(browser, "ada")
    created = api("POST", "/api/v1/workflows", "ada", {"workflowId": "create-prd"})
    ada.page.goto(f"{BASE}/?page=instance&id={created['id']}")
    live = ada.page.locator(".live")
    expect(live).to_have_text(re.compile("^Live"))
    # Restart the responder: its streams end, the console notices and reconnects by itself.
    subprocess.run([os.path.join(os.path.dirname(__file__), "..", "scripts", "stack.sh"), "responder",
                    os.environ["STACK_DIR"], "workflowd0"], check=True, capture_output=True)
    expect(live).to_have_text(re.compile("^Live"), timeout=30_000)
    api("POST", f"/api/v1/workflows/{created['id']}/transitions", "ada", {"to": "Running"})
    wait_status(ada.page, "Running")
    ada.close()


def test_a_change_made_while_the_page_fetches_the_instance_is_still_shown(browser):
    ada = Person(browser, "ada")
    created = api("POST", "/api/v1/workflows", "ada", {"workflowId": "create-prd"})
    path = f"/api/v1/workflows/{created['id']}"
    ada.page.goto(f"{BASE}/?page=instance&id={created['id']}")
    expect(ada.page.locator(".live")).to_have_text(re.compile("^Live"))
    wait_status(ada.page, "Created")
    held = []

    def answer_stale_once(route):
        # The page's fetch after the start is answered as the instance was when it left, and another change
        # (with its event) lands before that answer arrives: the page must fetch once more, not stop at Running.
        if held:
            route.continue_()
            return
        held.append(route.request.url)
        stale = route.fetch()
        api("POST", f"{path}/transitions", "ada", {"to": "Paused"})
        time.sleep(0.5)
        route.fulfill(response=stale)

    ada.page.route(f"**{path}", answer_stale_once)
    api("POST", f"{path}/transitions", "ada", {"to": "Running"})
    wait_status(ada.page, "Paused")
    assert held, "the page fetched the instance after the start"
    expect(ada.page.locator(".history")).to_contain_text("Running → Paused")
    ada.close()


def test_a_problem_shows_its_detail_and_a_stale_version_offers_a_reload(browser):
    ada = Person(browser, "ada")
    created = api("POST", "/api/v1/workflows", "ada", {"workflowId": "create-prd"})
    # Without its live stream the page goes stale when the instance changes elsewhere.
    ada.page.route("**/events/stream*", lambda route: route.abort())
    ada.page.goto(f"{BASE}/?page=instance&id={created['id']}")
    wait_status(ada.page, "Created")
    api("POST", f"/api/v1/workflows/{created['id']}/transitions", "ada", {"to": "Running"}, version=1)
    ada.page.get_by_role("button", name="Start").click()
    problem = ada.page.locator(".problem")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text(re.compile("changed|version", re.I))
    problem.get_by_role("button", name="Reload").click()
    wait_status(ada.page, "Running")
    ada.close()


def test_the_inbox_shows_a_new_task_without_a_reload(browser):
    cleo = Person(browser, "cleo")
    cleo.page.goto(f"{BASE}/?page=inbox")
    expect(cleo.page.locator(".live")).to_have_text(re.compile("^Live"))
    prompt = f"Inbox check {time.time_ns()}"
    ask_approval(prompt)
    expect(cleo.page.locator(".tasks")).to_contain_text(prompt)
    cleo.close()


def test_an_inbox_answer_older_than_the_list_shown_does_not_replace_it(browser):
    cleo = Person(browser, "cleo")
    cleo.page.goto(f"{BASE}/?page=inbox")
    expect(cleo.page.locator(".live")).to_have_text(re.compile("^Live"))

    first, second = f"Older answer {time.time_ns()}", f"Newer answer {time.time_ns()}"
    # The page's fetch after the first task is held, its answer taken as the list was then.
    held = []

    def hold_first(route):
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))

    cleo.page.route("**/api/v1/tasks*", hold_first)
    ask_approval(first)
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        cleo.page.wait_for_timeout(50)
    assert held, "the inbox fetched its tasks after the first change"
    # A later change is fetched and shown while that answer is still on its way...
    ask_approval(second)
    expect(cleo.page.locator(".tasks")).to_contain_text(second)
    # ...and then the older answer arrives: it must not replace the newer list.
    route, stale = held[0]
    route.fulfill(response=stale)
    cleo.page.wait_for_timeout(500)
    expect(cleo.page.locator(".tasks")).to_contain_text(second)
    expect(cleo.page.locator(".tasks")).to_contain_text(first)
    cleo.close()


def test_a_page_on_another_origin_may_call_the_api_only_when_allowed(browser):
    context = browser.new_context()
    page = context.new_page()
    script = """async ([base, token]) => {
        try {
            const list = await fetch(base + "/api/v1/workflows?limit=1", { headers: { Authorization: "Bearer " + token } });
            const created = await fetch(base + "/api/v1/workflows", { method: "POST",
                headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
                body: JSON.stringify({ workflowId: "create-prd" }) });
            return { list: list.status, created: created.status, etag: created.headers.get("ETag"),
                     location: created.headers.get("Location"), requestId: created.headers.get("X-Request-Id") };
        } catch (error) {
            return { refused: String(error) };
        }
    }"""
    page.goto(os.environ["ALLOWED_ORIGIN"] + "/")
    allowed = page.evaluate(script, [BASE, TOKENS["ben"]])
    assert allowed.get("list") == 200 and allowed.get("created") == 201, allowed
    assert allowed["etag"] == '"1"' and allowed["location"].startswith("/api/v1/workflows/") and allowed["requestId"], allowed
    page.goto(os.environ["REFUSED_ORIGIN"] + "/")
    refused = page.evaluate(script, [BASE, TOKENS["ben"]])
    assert "refused" in refused and "Failed to fetch" in refused["refused"], refused
    context.close()


def test_the_console_is_served_with_strict_headers_and_other_paths_stay_problems():
    for path, media in (("/", "text/html"), ("/js/app.js", "text/javascript"), ("/console.css", "text/css")):
        with urllib.request.urlopen(BASE + path, timeout=10) as response:
            headers = response.headers
            assert response.status == 200 and headers["Content-Type"].startswith(media), (path, headers["Content-Type"])
            csp = headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, csp
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "no-referrer"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(BASE + "/no-such-file.js", timeout=10)
    assert missing.value.code == 404 and missing.value.headers["Content-Type"] == "application/problem+json"


PAGES = {
    "workflows": "/",
    "new": "/?page=new",
    "inbox": "/?page=inbox",
}


@pytest.mark.parametrize("width", WIDTHS.keys())
def test_every_page_passes_axe_and_is_captured(browser, width):
    # An instance waiting for input with a deadline shows the most: the generated form, the due time, history.
    soon = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = api("POST", "/api/v1/workflows", "ada", {"workflowId": "create-prd", "parameters": {"projectName": "Screens"}})
    instance = api("POST", f"/api/v1/workflows/{created['id']}/transitions", "ada", {"to": "Running"})
    instance = api("POST", f"/api/v1/workflows/{created['id']}/transitions", "ada",
                   {"to": "WaitingForInput", "awaiting": {"prompt": "Name the launch and its priority.", "schema": SCHEMA,
                                                          "dueAt": soon}})
    # …and one waiting for approval, for the Approver's inbox.
    gated = api("POST", "/api/v1/workflows", "ada", {"workflowId": "create-prd", "parameters": {"projectName": "Gate"}})
    api("POST", f"/api/v1/workflows/{gated['id']}/transitions", "ada", {"to": "Running"})
    api("POST", f"/api/v1/workflows/{gated['id']}/transitions", "ada",
        {"to": "WaitingForApproval", "awaiting": {"prompt": "Approve the launch plan?", "dueAt": soon}})
    axe = Axe()
    for who, pages in (("ada", dict(PAGES, instance=f"/?page=instance&id={created['id']}")),
                       ("cleo", {"inbox": "/?page=inbox", "instance-approval": f"/?page=instance&id={gated['id']}"})):
        person = Person(browser, who, WIDTHS[width])
        for name, path in pages.items():
            person.page.goto(BASE + path)
            if name.startswith("instance"):
                expect(person.page.locator(".history li").first).to_be_visible()
            else:
                expect(person.page.locator("main h1")).to_be_visible()
                expect(person.page.locator("main")).not_to_contain_text("Loading")
            results = axe.run(person.page)
            bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
            assert not bad, f"{name} ({who}, {width}): " + "; ".join(f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']]}" for v in bad)
            # Nothing is wider than the screen at phone width.
            overflow = person.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} ({who}, {width}) is {overflow} px wider than the screen"
            person.page.screenshot(path=f"{ART}/{name}-{who}-{width}.png", full_page=True)
        assert not person.errors, person.errors
        person.close()
