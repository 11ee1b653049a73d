"""Button actions: the short strings buttons carry, parsed strictly (they come from clients).

``search:<token>:<page>``, ``categories:<page>``, ``announce:confirm|cancel:<id>``.
"""

from __future__ import annotations

import re

from kcrush_bot.core.commands import announce, browse
from kcrush_bot.core.commands.service import CommandService
from kcrush_bot.core.errors import BadInput
from kcrush_bot.core.permissions import Caller
from kcrush_bot.core.replies import Reply

_SEARCH = re.compile(r"^search:([A-Za-z0-9_-]{1,16}):(\d{1,4})$")
_CATEGORIES = re.compile(r"^categories:(\d{1,4})$")
_ANNOUNCE = re.compile(r"^announce:(confirm|cancel):(\d{1,12})$")


async def run(service: CommandService, caller: Caller, action: str) -> list[Reply]:
    if match := _SEARCH.match(action):
        query = service.saved_search(match.group(1))
        if query is None:
            raise BadInput("This search has expired. Search again with /search.")
        return await browse.search_page(service, query, max(1, int(match.group(2))))
    if match := _CATEGORIES.match(action):
        return await browse.category_list(service, int(match.group(1)))
    if match := _ANNOUNCE.match(action):
        return await announce.decide(
            service, caller, int(match.group(2)), confirm=match.group(1) == "confirm"
        )
    raise BadInput("That button is no longer valid.")
