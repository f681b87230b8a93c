"""playground: compare two LLMs side by side, rate them, and trust the leaderboard."""

__version__ = "0.1.0"
