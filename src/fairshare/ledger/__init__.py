"""The chain side: Vyper contracts, connecting to a chain, keys, typed contract calls, events and the audit."""

__all__: list[str] = []
