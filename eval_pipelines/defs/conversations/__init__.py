"""Conversations: sessions as units of evaluation, each in the hour it closed."""
