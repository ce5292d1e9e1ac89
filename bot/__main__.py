"""``python -m bot``: the ``paperbot`` command."""

from bot.cli import main

main()
