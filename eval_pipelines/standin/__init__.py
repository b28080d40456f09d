"""Local OpenAI-compatible stand-in servers for demos and tests (never a production endpoint)."""
