"""fairshare: federated learning whose members are paid, exactly and on chain, for the work they contribute."""

import logging

__version__ = "0.1.0"
__all__ = ["__version__"]

# A library's log records go where the application sends them; the CLI shows what matters in its own words.
logging.getLogger(__name__).addHandler(logging.NullHandler())
