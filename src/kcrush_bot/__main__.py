"""`python -m kcrush_bot` runs the command line."""

from kcrush_bot.cli import main

raise SystemExit(main())
