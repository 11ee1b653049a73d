"""kcrush-bot: publishes KCrush America Magazine to Discord and Telegram chats."""

__version__ = "0.1.0"
