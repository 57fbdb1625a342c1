"""What a user does on and sees of a room page, for the e2e tests."""

from __future__ import annotations

import re

from playwright.sync_api import Dialog, Locator, Page, expect

from tests.servers import Worker

# Generous: a reconnect after a worker restart waits out a jittered backoff of several seconds.
WAIT_MS = 20_000


class ChatPage:
    def __init__(self, page: Page, worker: Worker) -> None:
        self.page = page
        self.worker = worker
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.socket_urls: list[str] = []
        page.on("dialog", self._dialog)
        page.on("websocket", lambda socket: self.socket_urls.append(socket.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def open(self, slug: str, *, connected: bool = True) -> None:
        self.page.goto(f"{self.worker.http}/rooms/{slug}/")
        if connected:
            self.expect_connected()

    def expect_connected(self, timeout: float = WAIT_MS) -> None:
        expect(self.status).to_have_text("Connected", timeout=timeout)

    @property
    def status(self) -> Locator:
        return self.page.locator("#conn")

    @property
    def bodies(self) -> Locator:
        """The texts of the stored messages on screen, in screen order."""
        return self.page.locator("#timeline .msg .body")

    @property
    def pending(self) -> Locator:
        return self.page.locator("#pending .msg")

    @property
    def composer(self) -> Locator:
        return self.page.get_by_role("textbox", name=re.compile("^Message"))

    def send(self, text: str) -> None:
        self.composer.fill(text)
        self.composer.press("Enter")

    def send_all(self, texts: list[str]) -> None:
        for text in texts:
            self.send(text)

    def send_burst(self, texts: list[str]) -> None:
        """Send through the composer all at once, in one turn of the page's loop: faster than any budget."""
        self.page.evaluate(
            """(texts) => {
                const form = document.getElementById("composer");
                const box = document.getElementById("body");
                for (const text of texts) {
                    box.value = text;
                    form.requestSubmit();
                }
            }""",
            texts,
        )

    def expect_messages(self, texts: list[str], timeout: float = WAIT_MS) -> None:
        """Exactly these messages, in this order: none missing, none twice, nothing else."""
        expect(self.bodies).to_have_text(texts, timeout=timeout)
        expect(self.pending).to_have_count(0, timeout=timeout)

    def message(self, text: str) -> Locator:
        """The stored message on screen that says exactly `text`."""
        body = self.page.locator(".body", has_text=re.compile(f"^{re.escape(text)}$"))
        return self.page.locator("#timeline .msg").filter(has=body)

    def message_action(self, text: str, action: str) -> None:
        """Click one of a message's controls ("Edit message", "Ban author", ...), as a mouse user does."""
        message = self.message(text)
        message.hover()
        message.get_by_role("button", name=action, exact=True).click()

    def edit(self, text: str, new_text: str) -> None:
        self.message_action(text, "Edit message")
        editor = self.message(text).get_by_role("textbox", name="Edit message")
        editor.fill(new_text)
        editor.press("Enter")

    def confirm(self, text: str, choice: str) -> None:
        """Answer the inline question under the message that says `text` (after Delete, Mute, Ban)."""
        self.message(text).locator(".msg-confirm").get_by_role("button", name=choice, exact=True).click()

    def log_in(self, username: str, password: str) -> None:
        """Log this browser context in through the site's own login form."""
        self.page.goto(f"{self.worker.http}/accounts/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.get_by_role("heading", name="Rooms")).to_be_visible(timeout=WAIT_MS)

    def assert_no_script_ran(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], f"uncaught page errors: {self.errors}"


# What only markup from a user could bring into a page: inline event handlers, javascript: links,
# frames, inline scripts and style sheets, and the elements the XSS payloads name. The pages' own
# markup has none of them (the CSP refuses inline script and style anyway).
_INJECTED = """() => Array.from(document.querySelectorAll("*"))
  .filter((node) =>
    Array.from(node.attributes).some((attr) => attr.name.toLowerCase().startsWith("on")) ||
    node.matches(
      "iframe, frame, object, embed, style, #injected-link, img[src='x'], a[href^='javascript:' i], " +
      "script:not([src]):not([type='application/json'])"
    ))
  .map((node) => node.outerHTML.slice(0, 160))"""


def assert_nothing_injected(page: Page) -> None:
    """No element or attribute that user text could have brought in, and no sign that a script of theirs ran."""
    found = page.evaluate(_INJECTED)
    assert found == [], f"markup injected into {page.url}: {found}"
    assert page.evaluate("window.__pwned") is None, f"a payload's script ran on {page.url}"
    expect(page.locator("body")).to_be_visible()
