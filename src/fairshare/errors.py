"""Every error a user can meet, in one hierarchy.

Messages are written for the person at the terminal: what was expected, what was found, what to do.
The CLI catches ``FairshareError`` only, prints its message on one line and exits non-zero; anything
else is a bug and keeps its traceback.

    FairshareError
    ├── ConfigError          the consortium file is wrong (names the file and the key)
    ├── DataError            a dataset or data file cannot be used (names the path or column)
    ├── LearningError        federated training could not run
    ├── ValuationError       a contribution game or method was given something it cannot value
    ├── LedgerError          the chain, a contract, a key or a transaction
    │   ├── ChainConnectionError   the chain URL cannot be reached or is not the expected chain
    │   ├── ContractNotFoundError  no fairshare contracts where they were expected
    │   └── TransactionError       a transaction reverted or could not be sent
    ├── GovernanceError      a proposal, vote or execution was refused
    └── ServingError         the model API or its usage store
"""

from __future__ import annotations

__all__ = [
    "ChainConnectionError",
    "ConfigError",
    "ContractNotFoundError",
    "DataError",
    "FairshareError",
    "GovernanceError",
    "LearningError",
    "LedgerError",
    "ServingError",
    "TransactionError",
    "ValuationError",
]


class FairshareError(Exception):
    """Base of every error meant for a user rather than a developer."""


class ConfigError(FairshareError):
    """The consortium file is missing, malformed, or has a wrong key or value."""


class DataError(FairshareError):
    """A dataset or data file cannot be loaded or has the wrong shape."""


class LearningError(FairshareError):
    """Federated training could not run."""


class ValuationError(FairshareError):
    """A contribution game or valuation method received input it cannot value."""


class LedgerError(FairshareError):
    """The chain, a contract, a key or a transaction."""


class ChainConnectionError(LedgerError):
    """The chain cannot be reached, or it is not the chain that was expected."""


class ContractNotFoundError(LedgerError):
    """No fairshare contracts at the expected place."""


class TransactionError(LedgerError):
    """A transaction reverted or could not be sent."""


class GovernanceError(FairshareError):
    """A proposal, vote or execution was refused."""


class ServingError(FairshareError):
    """The model API or its usage store."""
