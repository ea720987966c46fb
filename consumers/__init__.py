"""The stream runtime and the consumer groups that turn the event log into projections, usage and metrics."""
