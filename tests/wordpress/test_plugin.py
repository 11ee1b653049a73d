"""The kcrush-bot WordPress plugin, running inside a real WordPress: which changes to a post send
which signed notice, that nothing else sends one, and its settings page with the test button.

A small HTTP server on loopback stands in for the bot and records every notice. It handles one
connection at a time, in the order they arrived; so "nothing was sent" is shown by making one
more change that does send (a sentinel) and seeing that its notice is the next one.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from wordpress.wpkit import TINY_PNG, WordPress

pytestmark = pytest.mark.wordpress

SECRET = "correct horse battery staple"
PLUGIN_FILE = "plugins/kcrush-bot/"
SETTINGS_PAGE = "/wp-admin/options-general.php?page=kcrush-bot"


@dataclass(frozen=True)
class Notice:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    def signed_with(self, secret: str) -> bool:
        timestamp = self.headers["x-kcrush-timestamp"]
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256)
        return hmac.compare_digest(
            self.headers["x-kcrush-signature"], f"sha256={digest.hexdigest()}"
        )


class Receiver:
    """The bot's /push/wordpress as far as the plugin can tell: records notices, answers 202."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.read = 0
        self.status = 202
        self.answer = b'{"accepted": true}'
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                notice = Notice(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with receiver._changed:
                    receiver.notices.append(notice)
                    receiver._changed.notify_all()
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(receiver.answer)))
                    self.end_headers()
                    self.wfile.write(receiver.answer)
                except OSError:
                    pass  # a non-blocking sender may hang up without reading the answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/push/wordpress"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 20.0) -> Notice:
        """The next notice not yet read, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.notices) <= self.read:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no notice arrived within {timeout} s")
                self._changed.wait(left)
            self.read += 1
            return self.notices[self.read - 1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    bot = Receiver()
    yield bot
    bot.close()


@pytest.fixture(scope="module")
def site(wordpress: WordPress, receiver: Receiver) -> Iterator[WordPress]:
    """The session's WordPress with the plugin active and pointed at the receiver by constants."""
    wordpress.define("KCRUSH_BOT_PUSH_URL", receiver.url)
    wordpress.define("KCRUSH_BOT_PUSH_SECRET", SECRET)
    wordpress.activate_plugin()
    yield wordpress
    wordpress.deactivate_plugin()
    wordpress.undefine("KCRUSH_BOT_PUSH_URL")
    wordpress.undefine("KCRUSH_BOT_PUSH_SECRET")


@pytest.fixture(autouse=True)
def no_php_notices_from_the_plugin(wordpress: WordPress) -> Iterator[None]:
    """WP_DEBUG is on: whatever a test makes the plugin do, it logs no notice, warning or error."""
    before = len(wordpress.read_debug_log())
    yield
    ours = [
        line for line in wordpress.read_debug_log()[before:].splitlines() if PLUGIN_FILE in line
    ]
    assert ours == []


def expect(receiver: Receiver, event: str, post_id: int) -> Notice:
    notice = receiver.next()
    assert (notice.json["event"], notice.json["post_id"]) == (event, post_id)
    return notice


def expect_quiet(site: WordPress, receiver: Receiver) -> None:
    """Nothing was sent since the last notice read: the next one is a fresh sentinel's."""
    sentinel = site.create_post("Sentinel", "<p>Marks the end of a test's notices.</p>")
    expect(receiver, "publish", sentinel)


def public_post(site: WordPress, receiver: Receiver, title: str = "A public post") -> int:
    post_id = site.create_post(title, f"<p>{title}</p>", excerpt="The teaser.")
    expect(receiver, "publish", post_id)
    return post_id


# -- notices for the changes that matter --------------------------------------------------------


def test_publishing_a_post_sends_one_signed_publish_notice(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = site.create_post(
        "KCRUSH Interview with KNK",
        "<p>KNK talk about their new album.</p>",
        excerpt="KNK talk.",
        categories=["K-Pop Interviews"],
        tags=["knk"],
    )

    notice = receiver.next()
    post = site.get_post(post_id)
    assert post is not None
    assert notice.path == "/push/wordpress"
    assert notice.headers["content-type"] == "application/json"
    assert list(notice.json) == ["event", "post_id", "modified_gmt", "site"]
    assert notice.json == {
        "event": "publish",
        "post_id": post_id,
        "modified_gmt": post["modified_gmt"],
        "site": site.url,
    }
    assert notice.signed_with(SECRET)
    assert not notice.signed_with("another secret")
    assert abs(int(notice.headers["x-kcrush-timestamp"]) - time.time()) < 300
    expect_quiet(site, receiver)


@pytest.mark.parametrize(
    "transport",
    ["Requests_Transport_cURL", "Requests_Transport_fsockopen"],
    ids=["curl", "streams"],
)
def test_notices_arrive_over_either_http_transport(
    site: WordPress, receiver: Receiver, transport: str
) -> None:
    # Hosts without PHP's curl use sockets, which hang up as soon as the notice is written.
    site.define("KCRUSH_TEST_HTTP_TRANSPORT", transport)
    try:
        notice = expect(receiver, "publish", site.create_post("Sent over " + transport))
    finally:
        site.undefine("KCRUSH_TEST_HTTP_TRANSPORT")
    assert notice.signed_with(SECRET)


def test_editing_a_public_post_sends_update(site: WordPress, receiver: Receiver) -> None:
    post_id = public_post(site, receiver)

    post = site.update_post(post_id, title="A public post, edited")

    notice = expect(receiver, "update", post_id)
    assert notice.json["modified_gmt"] == post["modified_gmt"]
    assert notice.signed_with(SECRET)


def test_changing_only_the_categories_sends_update(site: WordPress, receiver: Receiver) -> None:
    post_id = public_post(site, receiver)
    category = site.create_category("Video Interviews")

    site.eval(f"wp_set_post_categories({post_id}, array({category})); return true;")

    expect(receiver, "update", post_id)


def test_setting_or_removing_the_featured_image_sends_update(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = public_post(site, receiver)

    image = site.set_featured_image(post_id)
    expect(receiver, "update", post_id)
    assert image is not None
    assert httpx.get(image["url"]).content == TINY_PNG  # served, for the bot to fetch

    site.set_featured_image(post_id, b"")
    expect(receiver, "update", post_id)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "draft"},
        {"status": "pending"},
        {"status": "private"},
        {"password": "members only"},
    ],
    ids=["draft", "pending", "private", "password"],
)
def test_a_post_that_stops_being_public_sends_unpublish(
    site: WordPress, receiver: Receiver, change: dict[str, str]
) -> None:
    post_id = public_post(site, receiver)

    post = site.update_post(post_id, **change)

    notice = expect(receiver, "unpublish", post_id)
    assert notice.json["modified_gmt"] == post["modified_gmt"]


def test_trash_sends_unpublish_and_deleting_it_then_sends_delete(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = public_post(site, receiver)

    site.trash(post_id)
    expect(receiver, "unpublish", post_id)

    site.delete(post_id)
    expect(receiver, "delete", post_id)


def test_deleting_a_public_post_for_good_sends_delete(site: WordPress, receiver: Receiver) -> None:
    post_id = public_post(site, receiver)
    modified = site.get_post(post_id)["modified_gmt"]  # type: ignore[index]

    site.delete(post_id)

    notice = expect(receiver, "delete", post_id)
    assert notice.json["modified_gmt"] == modified
    assert notice.signed_with(SECRET)
    expect_quiet(site, receiver)


def test_restoring_a_trashed_post_and_publishing_it_sends_publish(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = public_post(site, receiver)
    site.trash(post_id)
    expect(receiver, "unpublish", post_id)

    site.untrash(post_id)  # back as a draft: still not public
    site.publish(post_id)

    expect(receiver, "publish", post_id)
    expect_quiet(site, receiver)


def test_a_protected_post_is_announced_only_when_its_password_goes(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = site.create_post("Members only", "<p>Secret.</p>", password="members only")
    expect_quiet(site, receiver)

    site.update_post(post_id, password="")

    expect(receiver, "publish", post_id)


def test_a_scheduled_post_sends_publish_when_it_goes_live(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = site.create_post(
        "Coming tomorrow", "<p>Soon.</p>", date=datetime.now(UTC) + timedelta(days=1)
    )
    assert site.get_post(post_id)["status"] == "future"  # type: ignore[index]
    expect_quiet(site, receiver)

    post = site.publish_scheduled(post_id)  # cron's publish_future_post, through wp-cron.php

    assert post["status"] == "publish"
    notice = expect(receiver, "publish", post_id)
    assert notice.json["modified_gmt"] == post["modified_gmt"]
    expect_quiet(site, receiver)


# -- nothing for what the bot does not show ----------------------------------------------------


def test_autosaves_and_revisions_send_nothing(site: WordPress, receiver: Receiver) -> None:
    post_id = public_post(site, receiver)

    site.autosave(post_id, "A title being typed", "<p>Half a sentence</p>")
    site.save_revision(post_id)

    expect_quiet(site, receiver)


def test_drafts_pages_and_schedules_send_nothing(site: WordPress, receiver: Receiver) -> None:
    draft = site.create_post("A draft", "<p>Work in progress.</p>", status="draft")
    site.update_post(draft, title="A draft, still")
    site.autosave(draft, "A draft, typing", "<p>Work</p>")
    site.create_post("About us", "<p>The magazine.</p>", post_type="page")
    page = site.create_post("Contact", "<p>Write to us.</p>", post_type="page")
    site.update_post(page, title="Contact us")
    site.trash(page)

    expect_quiet(site, receiver)


def test_one_request_that_changes_a_post_many_times_sends_one_notice(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = public_post(site, receiver)
    other = public_post(site, receiver, "Another public post")

    site.eval(
        f"wp_update_post(array('ID' => {post_id}, 'post_title' => 'First'));"
        f"wp_update_post(array('ID' => {post_id}, 'post_title' => 'Second'));"
        f"wp_set_post_tags({post_id}, 'one, two');"
        f"wp_update_post(array('ID' => {other}, 'post_status' => 'draft'));"
        "return true;"
    )

    first, second = receiver.next(), receiver.next()
    assert sorted(
        [
            (first.json["event"], first.json["post_id"]),
            (second.json["event"], second.json["post_id"]),
        ]
    ) == sorted([("update", post_id), ("unpublish", other)])
    expect_quiet(site, receiver)


def test_a_post_created_and_published_in_one_request_sends_publish(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = site.eval(
        "$id = wp_insert_post(array('post_title' => 'Drafted', 'post_status' => 'draft'));"
        "wp_update_post(array('ID' => $id, 'post_title' => 'Drafted and published',"
        " 'post_status' => 'publish'));"
        "return $id;"
    )

    expect(receiver, "publish", post_id)
    expect_quiet(site, receiver)


class _FormInputs(HTMLParser):
    """The inputs of the block editor's meta-box base form."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and "metabox-base-form" in (values.get("class") or ""):
            self.inside = True
        elif tag == "input" and self.inside and values.get("name"):
            self.fields[values["name"] or ""] = values.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def test_the_block_editors_double_save_sends_one_notice(
    site: WordPress, receiver: Receiver
) -> None:
    post_id = public_post(site, receiver)
    with site.login() as browser:
        editor = browser.get(f"/wp-admin/post.php?post={post_id}&action=edit")
        assert editor.status_code == 200
        rest_nonce = re.search(r'createNonceMiddleware\(\s*"(\w+)"', editor.text)
        meta_box_url = re.search(r"var _wpMetaBoxUrl = (\"[^\"]+\");", editor.text)
        assert rest_nonce and meta_box_url
        form = _FormInputs()
        form.feed(editor.text)
        assert form.fields["action"] == "editpost"

        # What the block editor does on "Update" when meta boxes are shown: the REST save,
        # then the classic form's save of the same post, each in its own request.
        saved = browser.post(
            f"/wp-json/wp/v2/posts/{post_id}",
            json={"title": "Edited in the block editor"},
            headers={"X-WP-Nonce": rest_nonce.group(1)},
        )
        assert saved.status_code == 200
        meta_boxes = browser.post(json.loads(meta_box_url.group(1)), data=form.fields)
        assert meta_boxes.status_code == 302

        expect(receiver, "update", post_id)
        expect_quiet(site, receiver)

        # A real change a moment later is not mistaken for the second save.
        browser.post(
            f"/wp-json/wp/v2/posts/{post_id}",
            json={"excerpt": "A new teaser."},
            headers={"X-WP-Nonce": rest_nonce.group(1)},
        ).raise_for_status()
        expect(receiver, "update", post_id)


# -- configuration -----------------------------------------------------------------------------


@contextmanager
def configured_by_settings(
    site: WordPress, receiver: Receiver, url: str, secret: str
) -> Iterator[None]:
    """The constants removed and the settings page's options set instead, for a while."""
    site.undefine("KCRUSH_BOT_PUSH_URL")
    site.undefine("KCRUSH_BOT_PUSH_SECRET")
    site.set_option("kcrush_bot_push_url", url)
    site.set_option("kcrush_bot_push_secret", secret)
    try:
        yield
    finally:
        site.delete_option("kcrush_bot_push_url")
        site.delete_option("kcrush_bot_push_secret")
        site.define("KCRUSH_BOT_PUSH_URL", receiver.url)
        site.define("KCRUSH_BOT_PUSH_SECRET", SECRET)


def test_the_settings_page_configures_the_plugin_and_the_constants_win(
    site: WordPress, receiver: Receiver
) -> None:
    with configured_by_settings(site, receiver, receiver.url, "a secret from the settings page"):
        notice = expect(receiver, "publish", site.create_post("Configured by the settings page"))
        assert notice.signed_with("a secret from the settings page")

    # Options left pointing elsewhere change nothing while the constants are defined.
    site.set_option("kcrush_bot_push_url", "http://127.0.0.1:9/nowhere")
    site.set_option("kcrush_bot_push_secret", "not the secret")
    try:
        notice = expect(receiver, "publish", site.create_post("Configured by constants"))
        assert notice.signed_with(SECRET)
    finally:
        site.delete_option("kcrush_bot_push_url")
        site.delete_option("kcrush_bot_push_secret")


def test_nothing_is_sent_until_url_and_secret_are_both_set(
    site: WordPress, receiver: Receiver
) -> None:
    with configured_by_settings(site, receiver, receiver.url, ""):
        site.create_post("No secret yet")
    expect_quiet(site, receiver)


def test_the_settings_page_renders_for_an_admin_with_a_nonce(
    site: WordPress, receiver: Receiver
) -> None:
    with site.login() as browser:
        locked = browser.get(SETTINGS_PAGE)
        assert locked.status_code == 200
        assert "Set by KCRUSH_BOT_PUSH_URL in wp-config.php." in locked.text
        assert html.escape(receiver.url) in locked.text
        assert SECRET not in locked.text
        assert 'name="kcrush_bot_push_url"' not in locked.text  # locked: not a form field

        with configured_by_settings(site, receiver, "", ""):
            page = browser.get(SETTINGS_PAGE)
            assert page.status_code == 200
            assert re.search(r"name=.option_page. value=.kcrush_bot.", page.text)
            nonce = re.search(r'name="_wpnonce" value="(\w+)"', page.text)
            assert nonce
            fields = {
                "option_page": "kcrush_bot",
                "action": "update",
                "_wpnonce": nonce.group(1),
                "_wp_http_referer": SETTINGS_PAGE,
                "kcrush_bot_push_url": receiver.url,
                "kcrush_bot_push_secret": "typed into the page",
            }
            assert browser.post("/wp-admin/options.php", data=fields).status_code == 302
            assert site.get_option("kcrush_bot_push_url") == receiver.url
            assert site.get_option("kcrush_bot_push_secret") == "typed into the page"

            # An empty secret keeps the saved one; the page never shows it back.
            fields["kcrush_bot_push_secret"] = ""
            assert browser.post("/wp-admin/options.php", data=fields).status_code == 302
            assert site.get_option("kcrush_bot_push_secret") == "typed into the page"
            assert "typed into the page" not in browser.get(SETTINGS_PAGE).text

            # Not an http(s) address: refused, the saved URL kept.
            fields["kcrush_bot_push_url"] = "javascript:alert(1)"
            assert browser.post("/wp-admin/options.php", data=fields).status_code == 302
            assert site.get_option("kcrush_bot_push_url") == receiver.url

            # Without the nonce, nothing is saved.
            del fields["_wpnonce"]
            fields["kcrush_bot_push_url"] = "http://127.0.0.1:9/forged"
            assert browser.post("/wp-admin/options.php", data=fields).status_code == 403
            assert site.get_option("kcrush_bot_push_url") == receiver.url


def test_the_settings_page_refuses_a_non_admin(site: WordPress) -> None:
    site.create_user("settings-editor", "editor")
    with site.login("settings-editor") as browser:
        assert browser.get(SETTINGS_PAGE).status_code == 403
        forged = {
            "option_page": "kcrush_bot",
            "action": "update",
            "kcrush_bot_push_url": "http://127.0.0.1:9/forged",
        }
        assert browser.post("/wp-admin/options.php", data=forged).status_code == 403
        test = browser.post("/wp-admin/admin-post.php", data={"action": "kcrush_bot_test"})
        assert test.status_code == 403
    assert site.get_option("kcrush_bot_push_url") in (None, "")


def _press_test_button(browser: Any) -> str:
    page = browser.get(SETTINGS_PAGE)
    nonce = re.search(r'name="kcrush_bot_test_nonce" value="(\w+)"', page.text)
    assert nonce
    pressed = browser.post(
        "/wp-admin/admin-post.php",
        data={"action": "kcrush_bot_test", "kcrush_bot_test_nonce": nonce.group(1)},
    )
    assert pressed.status_code == 302
    shown = browser.get(pressed.headers["location"])
    assert shown.status_code == 200
    result = re.search(r'kcrush-bot-test-result"><p>(.*?)</p>', shown.text, re.S)
    assert result, "the page shows the test's outcome"
    return html.unescape(result.group(1))


def test_the_test_button_sends_a_notice_and_shows_the_answer(
    site: WordPress, receiver: Receiver
) -> None:
    newest = public_post(site, receiver, "The newest post")
    with site.login() as browser:
        shown = _press_test_button(browser)
        assert shown.startswith("The bot answered 202 Accepted")
        assert '{"accepted": true}' in shown
        notice = expect(receiver, "update", newest)
        assert notice.signed_with(SECRET)

        receiver.status, receiver.answer = 401, b"bad signature"
        try:
            shown = _press_test_button(browser)
        finally:
            receiver.status, receiver.answer = 202, b'{"accepted": true}'
        assert shown.startswith("The bot answered 401 Unauthorized: bad signature")
        assert "KCRUSH_PUSH_SECRET" in shown
        expect(receiver, "update", newest)

        # The button is a form with a nonce: a forged press does nothing.
        forged = browser.post("/wp-admin/admin-post.php", data={"action": "kcrush_bot_test"})
        assert forged.status_code == 403
    expect_quiet(site, receiver)


def test_uninstalling_forgets_the_settings(site: WordPress) -> None:
    site.set_option("kcrush_bot_push_url", "http://127.0.0.1:9/push/wordpress")
    site.set_option("kcrush_bot_push_secret", "to be forgotten")
    site.deactivate_plugin()
    try:
        site.uninstall_plugin()
        assert site.get_option("kcrush_bot_push_url") is None
        assert site.get_option("kcrush_bot_push_secret") is None
    finally:
        site.activate_plugin()


def test_the_debug_log_catches_php_notices(wordpress: WordPress) -> None:
    # The autouse check above is only worth something if notices do reach the log.
    wordpress.eval("trigger_error('kcrush test notice', E_USER_NOTICE); return true;")
    assert "PHP Notice:  kcrush test notice" in wordpress.read_debug_log()
