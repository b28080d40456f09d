"""Review: the review queue of ended hours, and golden-set versions from the reviewed failures."""
