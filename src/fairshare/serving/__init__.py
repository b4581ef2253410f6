"""The model earns: a paid, metered prediction API, its usage store and settlement on chain."""

__all__: list[str] = []
