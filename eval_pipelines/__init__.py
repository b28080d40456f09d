"""Online evaluation for LLM applications, built on Dagster."""
