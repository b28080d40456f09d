"""Conversations as units of evaluation: sessions closed after an idle time, with the signals of their turns."""
