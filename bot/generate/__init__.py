"""Generation: answers, chat turns, lay summaries, newsletters, readability."""
