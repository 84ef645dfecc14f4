"""guildbot: karma, reminders and tags for a community chat server."""

__version__ = "2.3.0"
