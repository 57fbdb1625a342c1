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

    def expect_messages(self, texts: list[str], timeout: float = WAIT_MS) -> None:
        """Exactly these messages, in this order: none missing, none twice, nothing else."""
        expect(self.bodies).to_have_text(texts, timeout=timeout)
        expect(self.pending).to_have_count(0, timeout=timeout)

    def assert_no_script_ran(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], f"uncaught page errors: {self.errors}"
