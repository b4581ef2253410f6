"""The chain side: Vyper contracts, connecting to a chain, keys, typed contract calls, events and the audit."""

from fairshare.ledger.audit import AuditReport, Check, audit
from fairshare.ledger.chain import Chain, connect
from fairshare.ledger.client import LedgerClient
from fairshare.ledger.contracts import export_abis
from fairshare.ledger.deploy import Deployment, GovernanceSettings, deploy_consortium, deploy_test_stablecoin
from fairshare.ledger.keystore import Keystore

__all__ = [
    "AuditReport",
    "Chain",
    "Check",
    "Deployment",
    "GovernanceSettings",
    "Keystore",
    "LedgerClient",
    "audit",
    "connect",
    "deploy_consortium",
    "deploy_test_stablecoin",
    "export_abis",
]
