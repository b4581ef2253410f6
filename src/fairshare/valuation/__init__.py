"""Contribution measurement: per-round coalition games, the methods that value them, and shares."""

__all__: list[str] = []
