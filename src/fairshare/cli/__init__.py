"""The fairshare command line: thin commands that call the parts."""

__all__: list[str] = []
