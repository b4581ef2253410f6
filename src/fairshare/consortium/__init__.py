"""One consortium through the loop: set up a run, train and value rounds, earn and settle revenue, pay out, audit."""

__all__: list[str] = []
