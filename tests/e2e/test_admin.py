"""A room created by a moderator in the admin is listed on the home page and can be entered."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.pages import ChatPage
from tests.servers import Site, Worker

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-Admin-password-7"


def test_room_added_in_the_admin_appears_on_the_room_list(
    browser: Browser, chat_site: Site, first_worker: Worker
) -> None:
    chat_site.shell(
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_superuser('moderator', 'moderator@example.com', {PASSWORD!r})\n"
    )
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{first_worker.http}/")
        expect(page.get_by_role("heading", name="Rooms")).to_be_visible()
        expect(page.get_by_role("link", name="Greenhouse")).to_have_count(0)

        page.goto(f"{first_worker.http}/admin/chat/room/add/")
        page.get_by_label("Username").fill("moderator")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_label("Slug").fill("greenhouse")
        page.get_by_label("Name").fill("Greenhouse")
        page.get_by_label("Topic").fill("Tomatoes, mostly.")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")

        page.goto(f"{first_worker.http}/")
        link = page.get_by_role("link", name="Greenhouse")
        expect(link).to_be_visible()
        expect(link).to_contain_text("Tomatoes, mostly.")
        link.click()
        chat = ChatPage(page, first_worker)
        chat.expect_connected()
        expect(page.get_by_role("heading", level=1)).to_have_text("Greenhouse")
        chat.send("first words in the greenhouse")
        chat.expect_messages(["first words in the greenhouse"])
        chat.assert_no_script_ran()
    finally:
        context.close()
