"""Two models on one prompt: the duel, the one turn lifecycle (stream -> record -> store), batch
runs over prompt sets, and the LLM judge."""
