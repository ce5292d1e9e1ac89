"""``python -m bot``: the ``paperbot`` command."""

from bot.cli.main import main

main()
