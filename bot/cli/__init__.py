"""The ``paperbot`` command line: :mod:`bot.cli.app` (the shared app and helpers),
:mod:`bot.cli.commands` (the commands), :mod:`bot.cli.main` (the entry point that loads them)."""
