"""What leaves the playground for people and other tools: terminal tables, plots, the HTML page,
and the exports (jsonl, csv, dpo, fastchat)."""
