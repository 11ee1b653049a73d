"""Loaded at start-up by every Python child process the tests start (this directory is put on
their PYTHONPATH): the same loopback-only guard as in the test process, writing to its log."""

import os

if os.environ.get("KCRUSH_TEST_NETGUARD_LOG"):
    import loopback

    loopback.install(os.environ["KCRUSH_TEST_NETGUARD_LOG"])
