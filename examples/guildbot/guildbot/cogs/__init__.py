from guildbot.cogs.karma import Karma
from guildbot.cogs.reminders import Reminders
from guildbot.cogs.settings import Settings
from guildbot.cogs.tags import Tags

__all__ = ["Karma", "Reminders", "Settings", "Tags"]
