"""Statistics of the stored votes and ratings: Bradley-Terry and Elo ratings, win rates, scores,
position bias, agreement between raters and latency (definitions: docs/definitions.md)."""
