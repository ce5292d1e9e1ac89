"""Language models: the :class:`ChatModel` interface, the provider registry and prompts."""
