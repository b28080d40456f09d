"""Operations: the health of runs themselves (no assets)."""
