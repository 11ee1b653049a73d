"""How a reading of posts meets what is stored: the rules of ``upsert``, for both backends.

Given the posts of a reading and the stored rows that share a guid, a WordPress id or a URL
with them, ``plan_upsert`` decides what is inserted, what is updated and how, and what the
reading reports; each backend only runs the SQL.

* A post is the same post by its guid (WordPress's ``?p=<id>``), its WordPress id or its
  canonical URL; found by guid or id under a new URL (a changed slug) it takes the new URL,
  unless another stored post holds that URL.
* ``authoritative`` readings (the REST API) set every field as given: a removed featured image
  clears the image, categories and tags are replaced, and the post is marked as read from the
  API; from then on other readings (feeds, listings) change nothing of it, so a post read both
  ways never flips. A withdrawn post comes back only on such a reading (a feed may still show
  it from a cache). Other readings fill in: a missing teaser or image keeps the stored one,
  categories and tags are added.
* ``updated`` lists posts whose visible fields changed (title, teaser, image, link, date,
  categories) or that came back; anything else is ``unchanged``. A visible change marks the
  post touched, for its sent messages to follow (the SQL applies it to posts already fanned
  out).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kcrush_bot.core.models import Post
from kcrush_bot.core.ports import UpsertResult


@dataclass(frozen=True, slots=True)
class Update:
    """One stored post's new values."""

    id: int
    url: str
    title: str
    teaser: str
    image_url: str | None
    published_at: Any  # the backend's stored form
    modified_at: Any
    guid: str | None  # a guid to fill in where the row has none
    wp_id: int | None
    touch: bool  # a visible change: its sent messages must follow


@dataclass(slots=True)
class UpsertPlan:
    inserts: list[Post] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    # (post id, categories, tags, replace): what the posts' terms become (added unless replace)
    links: list[tuple[int, set[str], set[str], bool]] = field(default_factory=list)
    known: dict[str, int | None] = field(default_factory=dict)  # url -> id (None: to insert)
    taken_guids: set[str] = field(default_factory=set)  # guids already stored
    result: UpsertResult = field(default_factory=UpsertResult)


def plan_upsert(
    posts: Sequence[Post],
    found: Mapping[int, Any],
    old_cats: Mapping[int, set[str]],
    old_tags: Mapping[int, set[str]],
    *,
    authoritative: bool,
    stored_time: Callable[[Any], Any],
) -> UpsertPlan:
    """The plan for ``posts`` against the stored rows ``found`` (by id; each with ``url``,
    ``guid``, ``wp_id``, ``title``, ``teaser``, ``image_url``, ``published_at``, ``from_api``
    and ``withdrawn_at``) and their terms. ``stored_time`` turns a post's time into the form
    the rows hold, so that unchanged times compare equal."""
    plan = UpsertPlan()
    by_url = {row["url"]: row for row in found.values()}
    by_guid = {row["guid"]: row for row in found.values() if row["guid"]}
    by_wp = {row["wp_id"]: row for row in found.values() if row["wp_id"]}
    plan.taken_guids = set(by_guid)
    result = plan.result
    done: set[int] = set()
    for post in posts:
        if post.url in plan.known:
            continue  # the same post twice in one document (two category feeds)
        row = (
            (by_guid.get(post.guid) if post.guid else None)
            or (by_wp.get(post.wp_id) if post.wp_id else None)
            or by_url.get(post.url)
        )
        if row is None:
            plan.inserts.append(post)
            plan.known[post.url] = None
            continue
        post_id = int(row["id"])
        plan.known[post.url] = post_id
        withdrawn = row["withdrawn_at"] is not None
        if post_id in done or (not authoritative and (row["from_api"] or withdrawn)):
            result.unchanged += 1
            continue
        done.add(post_id)
        cats_before = old_cats.get(post_id, set())
        tags_before = old_tags.get(post_id, set())
        if authoritative:
            teaser, image = post.teaser, post.image_url
            cats, tags = set(post.categories), set(post.tags)
        else:
            teaser = post.teaser or row["teaser"]
            image = post.image_url or row["image_url"]
            cats, tags = cats_before | set(post.categories), tags_before | set(post.tags)
        holder = by_url.get(post.url)
        url = post.url if holder is None or int(holder["id"]) == post_id else row["url"]
        published = stored_time(post.published_at) or row["published_at"]
        current = (row["url"], row["title"], row["teaser"], row["image_url"], row["published_at"])
        incoming = (url, post.title, teaser, image, published)
        # Fill a missing guid, unless another post already holds it (UNIQUE).
        guid = post.guid if post.guid and row["guid"] is None and post.guid not in by_guid else None
        visible = incoming != current or cats != cats_before or withdrawn
        marked = authoritative and not row["from_api"]
        new_id = post.wp_id is not None and row["wp_id"] != post.wp_id
        if visible or guid or marked or new_id or tags != tags_before:
            plan.updates.append(
                Update(
                    post_id,
                    url,
                    post.title,
                    teaser,
                    image,
                    published,
                    stored_time(post.modified_at),
                    guid,
                    post.wp_id,
                    visible,
                )
            )
            plan.links.append((post_id, cats, tags, authoritative))
        if visible:
            result.updated.append(post_id)
        else:
            result.unchanged += 1
    return plan


def inserted_links(
    inserts: Sequence[Post], known: Mapping[str, int | None]
) -> list[tuple[int, set[str], set[str], bool]]:
    """The terms of newly inserted posts, once their ids are known (``known``)."""
    merged: dict[int, tuple[set[str], set[str]]] = {}
    for post in inserts:
        cats, tags = merged.setdefault(int(known[post.url] or 0), (set(), set()))
        cats.update(post.categories)
        tags.update(post.tags)
    return [(post_id, cats, tags, False) for post_id, (cats, tags) in merged.items()]
