"""The ``paperbot`` command line."""
