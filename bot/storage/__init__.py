"""The application's own SQLite files: chat sessions and the generation cache."""
