"""Running the grid: planning cells and their configurations, executors,
the runner that writes records, the harness that sequences one run's
stages, hook calls routed to the owning plugin, and prepared references."""
