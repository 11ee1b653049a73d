"""Loaded at start-up by every Python child process the tests start (this directory is put on
their PYTHONPATH): the same loopback-only guard as in the test process, writing to its log."""

import os

if os.environ.get("LOOPBACK_GUARD_LOG"):
    import loopback

    loopback.install(os.environ["LOOPBACK_GUARD_LOG"])
