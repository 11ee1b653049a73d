"""A fake WordPress site on loopback: the REST API's posts and categories, and the RSS feeds.

``FakeWordPress`` keeps posts the way WordPress does (status, password, date and modified
times, categories with parents, tags, a featured image) on a clock the test moves, and serves:

* ``/wp-json/wp/v2/posts`` with the query parameters a poll or a reconcile uses: ``after``,
  ``modified_after``, ``before``, ``include``, ``exclude``, ``slug``, ``orderby`` (date, modified, id,
  include), ``order``, ``per_page`` (at most 100), ``page``, ``_embed``; ``X-WP-Total`` and
  ``X-WP-TotalPages``; a ``Date`` header from the fake clock. Only published posts are listed,
  password-protected ones included with ``content.protected`` set and their text withheld, as
  WordPress does for a visitor.
* ``/wp-json/wp/v2/posts/<id>``: 401 ``rest_forbidden`` for a post that is not public (draft,
  private, scheduled, trashed), 404 ``rest_post_invalid_id`` for one that does not exist.
* ``/wp-json/wp/v2/categories``.
* ``/feed/`` and ``/category/<slug>/feed/``: RSS 2.0 as WordPress writes it: the newest ten
  posts, categories and tags alike as ``<category>`` by name, the excerpt as ``<description>``,
  the content (with its first image inline) as ``<content:encoded>``, "Protected: " titles and
  "There is no excerpt because this is a protected post." for a protected post.

Every request is recorded in ``requests`` (path and query).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

SITE = "https://www.kcrush.com"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# (id, slug, name, parent id): the magazine's taxonomy as WordPress holds it.
CATEGORIES: tuple[tuple[int, str, str, int], ...] = (
    (1, "uncategorized", "Uncategorized", 0),
    (10, "interviews", "Interviews", 0),
    (11, "k-pop-interviews", "K-Pop Interviews", 10),
    (12, "video-interviews", "Video Interviews", 10),
    (13, "featured-interview", "Featured Interview", 10),
    (20, "kpop", "K-Pop", 0),
    (30, "k-dramas", "K-Dramas", 0),
)


def wp_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass
class FakePost:
    id: int
    title: str
    slug: str
    excerpt: str
    content: str
    date: datetime
    modified: datetime
    status: str = "publish"  # publish, future, draft, pending, private, trash
    password: str = ""
    categories: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    image: str | None = None
    inline_image: str | None = None
    # WordPress sets a post's guid once: ?p=<id> for a post first saved as a draft, its
    # permalink for one published at once (with pretty permalinks).
    guid: str = ""

    @property
    def link(self) -> str:
        return f"{SITE}/{self.slug}/"


class FakeWordPress:
    """The site's posts and the HTTP answers about them; ``base`` is set once it is serving."""

    def __init__(self) -> None:
        self.base = ""
        self.now = START
        self.posts: dict[int, FakePost] = {}
        self.categories = list(CATEGORIES)
        self.tag_ids: dict[str, int] = {}
        self.requests: list[str] = []
        self.fail_lists = False  # every /posts list answers 500 (a site in trouble)
        self.permalink_guids = False  # new posts' guids are their permalinks, not ?p=<id>
        self._next_id = 100

    # -- the editor's side -------------------------------------------------------------------

    def tick(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def category_id(self, slug: str) -> int:
        return next(cid for cid, s, _, _ in self.categories if s == slug)

    def publish(
        self,
        title: str,
        *,
        categories: Iterable[str] = ("interviews",),
        tags: Iterable[str] = (),
        excerpt: str | None = None,
        content: str | None = None,
        image: str | None = "default",
        status: str = "publish",
        password: str = "",
        date: datetime | None = None,
    ) -> int:
        """A new post dated now (or ``date``); returns its id."""
        self._next_id += 1
        post_id = self._next_id
        slug = "-".join(title.lower().split())[:60] or f"post-{post_id}"
        when = date or self.now
        self.posts[post_id] = FakePost(
            id=post_id,
            title=title,
            slug=slug,
            excerpt=excerpt if excerpt is not None else f"The excerpt of {title}.",
            content=content if content is not None else f"<p>The story of {title}.</p>",
            date=when,
            modified=self.now,
            status=status,
            password=password,
            categories=[self.category_id(c) for c in categories],
            tags=list(tags),
            image=f"{SITE}/wp-content/uploads/{slug}.jpg" if image == "default" else image,
            inline_image=f"{SITE}/wp-content/uploads/{slug}-inline.jpg",
            guid=f"{SITE}/{slug}/" if self.permalink_guids else f"{SITE}/?p={post_id}",
        )
        return post_id

    def edit(self, post_id: int, **changes: Any) -> None:
        """Change fields of a post (``title``, ``slug``, ``image``, ``categories`` as slugs,
        ``tags``, ``status``, ``password`` …) as saving it in the editor would: modified now."""
        post = self.posts[post_id]
        for name, value in changes.items():
            if name == "categories":
                value = [self.category_id(c) for c in value]
            setattr(post, name, value)
        post.modified = self.now

    def go_live(self, post_id: int) -> None:
        """A scheduled post going live as WordPress's cron does it: the status changes, the
        modified time does not."""
        self.posts[post_id].status = "publish"

    def delete(self, post_id: int) -> None:
        del self.posts[post_id]

    # -- what a visitor sees -----------------------------------------------------------------

    def public(self) -> list[FakePost]:
        return [p for p in self.posts.values() if p.status == "publish"]

    def _tag_id(self, name: str) -> int:
        return self.tag_ids.setdefault(name, 500 + len(self.tag_ids))

    def post_json(self, post: FakePost, *, embed: bool) -> dict[str, Any]:
        protected = bool(post.password)
        data: dict[str, Any] = {
            "id": post.id,
            "date": wp_time(post.date),
            "date_gmt": wp_time(post.date),
            "guid": {"rendered": post.guid},
            "modified": wp_time(post.modified),
            "modified_gmt": wp_time(post.modified),
            "slug": post.slug,
            "status": post.status,
            "type": "post",
            "link": post.link,
            "title": {"rendered": escape(post.title)},
            "content": {"rendered": "" if protected else post.content, "protected": protected},
            "excerpt": {
                "rendered": "" if protected else f"<p>{escape(post.excerpt)}</p>\n",
                "protected": protected,
            },
            "featured_media": 900 + post.id if post.image else 0,
            "categories": list(post.categories),
            "tags": [self._tag_id(t) for t in post.tags],
        }
        if embed:
            by_id = {cid: (slug, name) for cid, slug, name, _ in self.categories}
            embedded: dict[str, Any] = {
                "wp:term": [
                    [
                        {
                            "id": cid,
                            "name": by_id[cid][1],
                            "slug": by_id[cid][0],
                            "taxonomy": "category",
                        }
                        for cid in post.categories
                    ],
                    [
                        {
                            "id": self._tag_id(t),
                            "name": t,
                            "slug": t.lower(),
                            "taxonomy": "post_tag",
                        }
                        for t in post.tags
                    ],
                ]
            }
            if post.image:
                embedded["wp:featuredmedia"] = [
                    {"id": 900 + post.id, "media_type": "image", "source_url": post.image}
                ]
            data["_embedded"] = embedded
        return data

    def _headers(self) -> dict[str, str]:
        return {"Date": format_datetime(self.now, usegmt=True)}

    def _error(self, status: int, code: str, message: str) -> web.Response:
        body = {"code": code, "message": message, "data": {"status": status}}
        return web.json_response(body, status=status, headers=self._headers())

    async def handle_posts(self, request: web.Request) -> web.Response:
        if self.fail_lists:
            return self._error(500, "internal_server_error", "There has been a critical error.")
        query = request.query
        posts = self.public()
        try:
            for name, column, newer in (
                ("after", "date", True),
                ("before", "date", False),
                ("modified_after", "modified", True),
                ("modified_before", "modified", False),
            ):
                if name in query:
                    limit = _parse_time(query[name])
                    posts = [
                        p
                        for p in posts
                        if (getattr(p, column) > limit if newer else getattr(p, column) < limit)
                    ]
            include = _ids(query.getall("include", []) + query.getall("include[]", []))
            exclude = _ids(query.getall("exclude", []) + query.getall("exclude[]", []))
            per_page = int(query.get("per_page", "10"))
            page = int(query.get("page", "1"))
        except ValueError:
            return self._error(400, "rest_invalid_param", "Invalid parameter(s)")
        if per_page < 1 or per_page > 100:
            return self._error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        if include:
            posts = [p for p in posts if p.id in include]
        if exclude:
            posts = [p for p in posts if p.id not in exclude]
        if "slug" in query:
            slugs = set(query["slug"].split(","))
            posts = [p for p in posts if p.slug in slugs]
        if "categories" in query:
            wanted = _ids([query["categories"]])
            posts = [p for p in posts if wanted & set(p.categories)]
        orderby = query.get("orderby", "date")
        descending = query.get("order", "desc") == "desc"
        if orderby == "include" and include:
            order = {pid: n for n, pid in enumerate(query.get("include", "").split(","))}
            posts.sort(key=lambda p: order.get(str(p.id), 0))
        else:
            key = {"date": "date", "modified": "modified", "id": "id"}.get(orderby, "date")
            posts.sort(key=lambda p: (getattr(p, key), p.id), reverse=descending)
        total = len(posts)
        pages = (total + per_page - 1) // per_page
        if page > max(pages, 1):
            return self._error(
                400,
                "rest_post_invalid_page_number",
                "The page number requested is larger than the number of pages available.",
            )
        chosen = posts[(page - 1) * per_page : page * per_page]
        embed = "_embed" in query
        body = [self.post_json(p, embed=embed) for p in chosen]
        headers = {**self._headers(), "X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        return web.json_response(body, headers=headers)

    async def handle_post(self, request: web.Request) -> web.Response:
        try:
            post = self.posts.get(int(request.match_info["id"]))
        except ValueError:
            post = None
        if post is None:
            return self._error(404, "rest_post_invalid_id", "Invalid post ID.")
        if post.status != "publish":
            return self._error(401, "rest_forbidden", "Sorry, you are not allowed to do that.")
        return web.json_response(
            self.post_json(post, embed="_embed" in request.query), headers=self._headers()
        )

    async def handle_categories(self, request: web.Request) -> web.Response:
        rows = [
            {"id": cid, "slug": slug, "name": name, "parent": parent, "taxonomy": "category"}
            for cid, slug, name, parent in self.categories
        ]
        headers = {**self._headers(), "X-WP-Total": str(len(rows)), "X-WP-TotalPages": "1"}
        return web.json_response(rows, headers=headers)

    def feed_xml(self, category: str | None = None) -> bytes:
        posts = self.public()
        if category is not None:
            wanted = {cid for cid, slug, _, _ in self.categories if slug == category}
            parents = {cid: parent for cid, _, _, parent in self.categories}

            def within(cid: int) -> bool:
                while cid:
                    if cid in wanted:
                        return True
                    cid = parents.get(cid, 0)
                return False

            posts = [p for p in posts if any(within(c) for c in p.categories)]
        posts.sort(key=lambda p: (p.date, p.id), reverse=True)
        names = {cid: name for cid, _, name, _ in self.categories}
        items = []
        for post in posts[:10]:
            protected = bool(post.password)
            title = f"Protected: {post.title}" if protected else post.title
            if protected:
                description = "There is no excerpt because this is a protected post."
                content = (
                    f'<form action="{SITE}/wp-login.php?action=postpass" class="post-password-form"'
                    ' method="post"><p>This content is password protected. To view it please '
                    "enter your password below:</p></form>"
                )
            else:
                description = f"{post.excerpt} [&#8230;]"
                image = f'<img src="{post.inline_image}" alt="" />' if post.inline_image else ""
                content = f"{image}{post.content}"
            terms = [names[c] for c in post.categories] + list(post.tags)
            cats = "".join(f"<category><![CDATA[{t}]]></category>" for t in terms)
            items.append(
                f"<item><title>{escape(title)}</title><link>{post.link}</link>"
                f"<pubDate>{format_datetime(post.date, usegmt=True)}</pubDate>{cats}"
                f'<guid isPermaLink="false">{post.guid}</guid>'
                f"<description><![CDATA[{description}]]></description>"
                f"<content:encoded><![CDATA[{content}]]></content:encoded></item>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>KCrush</title><link>{SITE}</link><description>K-pop</description>"
            + "".join(items)
            + "</channel></rss>"
        ).encode()

    async def handle_feed(self, request: web.Request) -> web.Response:
        path = request.match_info.get("path", "")
        category = path.strip("/").split("/")[-1] if path else None
        return web.Response(
            body=self.feed_xml(category),
            content_type="application/rss+xml",
            charset="UTF-8",
            headers=self._headers(),
        )

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        response: web.StreamResponse = await handler(request)
        return response

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/wp-json/wp/v2/posts", self.handle_posts)
        app.router.add_get("/wp-json/wp/v2/posts/{id}", self.handle_post)
        app.router.add_get("/wp-json/wp/v2/categories", self.handle_categories)
        app.router.add_get("/feed/", self.handle_feed)
        app.router.add_get("/category/{path:.+}/feed/", self.handle_feed)
        return app

    def url(self, path: str) -> str:
        return self.base + path

    def requests_to(self, path: str) -> list[str]:
        """Requests whose path is ``path`` (the query left aside), in order."""
        return [r for r in self.requests if r.split("?", 1)[0] == path]


def _ids(values: Iterable[str]) -> set[int]:
    ids: set[int] = set()
    for value in values:
        ids.update(int(part) for part in value.split(",") if part.strip())
    return ids


@asynccontextmanager
async def serve_wordpress(site: FakeWordPress | None = None) -> AsyncIterator[FakeWordPress]:
    """Serve a fake WordPress on 127.0.0.1 (a free port) for the duration of the block."""
    site = site or FakeWordPress()
    runner = web.AppRunner(site.app())
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    site.base = f"http://127.0.0.1:{port}"
    try:
        yield site
    finally:
        await runner.cleanup()


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()
