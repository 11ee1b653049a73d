"""Reading the archive: ``latest``, ``search`` and ``category``."""

from __future__ import annotations

import math

from kcrush_bot.core.categories import category_tree
from kcrush_bot.core.commands.registry import Arg, ArgKind, Command, Invocation
from kcrush_bot.core.commands.service import CommandService
from kcrush_bot.core.errors import BadInput
from kcrush_bot.core.models import Post
from kcrush_bot.core.replies import Button, Cards, ListItem, ListPage, Reply, TeaserCard, Text

LATEST_DEFAULT = 5
LATEST_MAX = 10
SEARCH_PAGE_SIZE = 5
MAX_QUERY_CHARS = 200
CATEGORY_PAGE_SIZE = 20


async def cards_for(service: CommandService, posts: list[Post], intro: str | None) -> Cards:
    names = (await service.categories()).names()
    return Cards(tuple(TeaserCard.from_post(p, names) for p in posts), intro=intro)


def parse_count(word: str, *, maximum: int) -> tuple[int, str | None]:
    """A post count from the caller: 1..maximum; more is capped with a note, less is an error."""
    try:
        value = int(word)
    except ValueError:
        raise BadInput(f"{word[:20]!r} is not a number.") from None
    if value < 1:
        raise BadInput(f"Ask for 1 to {maximum} posts, e.g. /latest 3.")
    if value > maximum:
        return maximum, f"Showing {maximum}, the most I send at once."
    return value, None


def _is_number(word: str) -> bool:
    return word.lstrip("+-").isdigit()


async def latest(call: Invocation) -> list[Reply]:
    words = call.words
    count, note = LATEST_DEFAULT, None
    if words and _is_number(words[0]):
        count, note = parse_count(words.pop(0), maximum=LATEST_MAX)
    elif words and _is_number(words[-1]):
        count, note = parse_count(words.pop(), maximum=LATEST_MAX)
    slug = await call.service.resolve_category(" ".join(words)) if words else None
    posts = await call.service.store.posts.latest(count, slug)
    index = await call.service.categories()
    where = f" in {index.name_of(slug)}" if slug else ""
    if not posts:
        return [Text(f"Nothing has been published{where} yet.")]
    intro = f"The latest {len(posts)} post{'s' if len(posts) != 1 else ''}{where}."
    if note:
        intro += f" {note}"
    return [await cards_for(call.service, posts, intro)]


async def search_page(service: CommandService, query: str, page: int) -> list[Reply]:
    """One page of results for ``query``, with previous/next buttons."""
    offset = (page - 1) * SEARCH_PAGE_SIZE
    hits, total = await service.store.posts.search(query, limit=SEARCH_PAGE_SIZE, offset=offset)
    shown = query if len(query) <= 60 else query[:60] + "…"
    if not hits:
        if page > 1:
            return [Text(f"No more results for “{shown}”.")]
        return [
            Text(
                f"Nothing found for “{shown}”. Try fewer or shorter words, "
                "or browse with /category."
            )
        ]
    pages = max(1, math.ceil(total / SEARCH_PAGE_SIZE))
    token = service.save_search(query)
    buttons = []
    if page > 1:
        buttons.append(Button("◀ Previous", f"search:{token}:{page - 1}"))
    if page < pages:
        buttons.append(Button("Next ▶", f"search:{token}:{page + 1}"))
    items = tuple(ListItem(h.post.title, h.post.url, h.snippet) for h in hits)
    more = "+" if total >= 1000 else ""
    return [
        ListPage(
            title=f"Search: {shown}",
            items=items,
            page=page,
            pages=pages,
            total=total,
            first=(page - 1) * SEARCH_PAGE_SIZE + 1,
            footer=f"{total}{more} result{'s' if total != 1 else ''}",
            buttons=tuple(buttons),
        )
    ]


async def find_posts(
    service: CommandService, text: str, *, offset: int = 0, limit: int = 10
) -> tuple[list[tuple[Post, str]], int | None]:
    """Posts for a search box that is not a command (Telegram's ``@bot words``): the newest
    when there are no words, else ranked matches with their snippets; and the offset of the
    next batch, or None when there is none."""
    text = text.strip()[:MAX_QUERY_CHARS]
    if not text:
        return [(post, post.teaser) for post in await service.store.posts.latest(limit)], None
    hits, total = await service.store.posts.search(text, limit=limit, offset=max(offset, 0))
    following = offset + len(hits)
    return [(hit.post, hit.snippet) for hit in hits], (
        following if hits and following < total else None
    )


async def search(call: Invocation) -> list[Reply]:
    query = call.text
    if not query:
        raise BadInput("Tell me what to look for, e.g. /search dreamcatcher.")
    if len(query) > MAX_QUERY_CHARS:
        raise BadInput(f"Search for at most {MAX_QUERY_CHARS} characters.")
    return await search_page(call.service, query, 1)


async def category_list(service: CommandService, page: int) -> list[Reply]:
    counts = category_tree(await service.store.posts.category_counts())
    pages = max(1, math.ceil(len(counts) / CATEGORY_PAGE_SIZE))
    page = min(max(page, 1), pages)
    chunk = counts[(page - 1) * CATEGORY_PAGE_SIZE : page * CATEGORY_PAGE_SIZE]
    items = tuple(
        ListItem(
            # A child is marked rather than indented: chats fold leading spaces away.
            title=f"{'↳ ' * depth}{c.category.name}",
            detail=f"{c.category.slug} · {c.posts} post{'s' if c.posts != 1 else ''}",
        )
        for depth, c in chunk
    )
    buttons = []
    if page > 1:
        buttons.append(Button("◀ Previous", f"categories:{page - 1}"))
    if page < pages:
        buttons.append(Button("Next ▶", f"categories:{page + 1}"))
    return [
        ListPage(
            title="Categories",
            items=items,
            page=page,
            pages=pages,
            total=len(counts),
            first=(page - 1) * CATEGORY_PAGE_SIZE + 1,
            footer="/category <name> shows a category's newest posts.",
            buttons=tuple(buttons),
        )
    ]


async def category(call: Invocation) -> list[Reply]:
    if not call.text:
        return await category_list(call.service, 1)
    slug = await call.service.resolve_category(call.text)
    posts = await call.service.store.posts.latest(LATEST_DEFAULT, slug)
    name = (await call.service.categories()).name_of(slug)
    if not posts:
        return [Text(f"Nothing has been published in {name} yet.")]
    return [await cards_for(call.service, posts, f"Newest in {name}.")]


COMMANDS = (
    Command(
        name="latest",
        summary="The newest posts, optionally in a category",
        usage="/latest [count] [category]",
        help="Shows the newest posts as teaser cards: 5 unless you give a count (at most 10), "
        "from every category unless you name one.",
        handler=latest,
        args=(
            Arg("count", "How many posts (1-10)", ArgKind.INTEGER, min_value=1, max_value=10),
            Arg("category", "Only posts in this category", ArgKind.CATEGORY),
        ),
        examples=("/latest", "/latest 3 interviews"),
    ),
    Command(
        name="search",
        summary="Search the magazine's archive",
        usage="/search <words>",
        help="Finds posts whose title or teaser contains your words (beginnings of words count, "
        "so 서울 finds 서울의). Results come five to a page.",
        handler=search,
        args=(Arg("query", "What to look for", ArgKind.TEXT, required=True),),
        examples=("/search dreamcatcher", "/search 크나큰"),
    ),
    Command(
        name="category",
        summary="List the categories, or show one category's newest posts",
        usage="/category [name]",
        help="With no name, lists the categories and how many posts each has. With a name, "
        "shows that category's newest posts (sub-categories included).",
        handler=category,
        args=(Arg("name", "A category", ArgKind.CATEGORY),),
        examples=("/category", "/category interviews"),
    ),
)
