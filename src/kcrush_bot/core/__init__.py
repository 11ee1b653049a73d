"""The platform-neutral core: models, teaser cards, replies, commands, publishing.

Nothing in here imports a platform SDK, the database driver or the scheduler; an
import-linter contract in pyproject.toml keeps it that way.
"""
