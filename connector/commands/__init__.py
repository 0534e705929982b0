"""The commands of the ``smtpauth`` CLI, one module each."""

from connector.commands.check import check
from connector.commands.demo import demo
from connector.commands.simulate import simulate
from connector.commands.sync import sync

__all__ = ["COMMANDS"]

COMMANDS = (check, sync, simulate, demo)
