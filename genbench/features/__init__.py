"""Feature extractors and the content-addressed feature cache."""
