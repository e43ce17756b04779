"""Reports built from run records: summaries over seeds, observations,
leaderboards (Markdown, CSV, plots, samples) and the regression check.
Nothing here runs a model."""
