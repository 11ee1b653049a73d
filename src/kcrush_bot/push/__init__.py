"""Push: WordPress's signed notices and WebSub deliveries, each a hint to read a source now.

* ``signing``: the HMAC checks (the plugin's ``X-KCrush-Signature``, WebSub's
  ``X-Hub-Signature``) and the replay guard;
* ``notices``: a notice's fields, checked, and the bounded queue that coalesces them;
* ``receiver``: ``/push/wordpress``, answering at once and doing the work after, in a worker;
* ``websub``: subscribing to the hubs feeds name, answering their verifications, renewing
  leases and taking ``/push/websub/<source>`` deliveries;
* ``ledger``: what push has done, for ``status`` and ``/healthz``;
* ``endpoints``: the whole of it as the bot runs it, entered with ``async with``.

A notice never carries content into the archive: the bot re-reads what WordPress (or the
feed) serves and ingests it exactly as a poll would.
"""

from __future__ import annotations

from kcrush_bot.push.ledger import PushLedger

__all__ = ["PushLedger"]
