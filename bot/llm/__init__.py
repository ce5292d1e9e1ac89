"""Language models: prompt templates and the chat-model providers."""
