"""Sources: where posts come from (WordPress REST, RSS/Atom feeds, listing pages, local files),
and how what they say is normalised and cleaned before it reaches the store.

``Ingestor`` (``ingest.py``) is what the CLI and the scheduler use: the kind-neutral engine
that drives each kind of source (``kinds/``, one module per kind). ``canonical_url``
(``normalise.py``) is the one rule for a post's URL.
"""

from kcrush_bot.sources.ingest import Ingestor, SourceReport
from kcrush_bot.sources.normalise import CategoryMap, canonical_url

__all__ = ["CategoryMap", "Ingestor", "SourceReport", "canonical_url"]
