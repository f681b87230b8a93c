"""The vocabulary every stage shares: typed events, the generation record, the <think> splitter,
the config, where files live, and the words (sides, winners, statuses) defined once."""
