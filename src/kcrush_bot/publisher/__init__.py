"""Publishing: fan-out of new posts, announcements and digests into the outbox, the delivery
worker that sends the outbox under each platform's limits, and the scheduler that drives both.

The publisher talks to chat platforms only through the ``Platform`` port; it never imports a
platform SDK.
"""

from kcrush_bot.publisher.publisher import Publisher

__all__ = ["Publisher"]
