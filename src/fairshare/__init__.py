"""fairshare: federated learning whose members are paid, exactly and on chain, for the work they contribute."""

__version__ = "0.1.0"
__all__ = ["__version__"]
