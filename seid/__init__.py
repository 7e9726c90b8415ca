"""seid: risk evidence for ML hosts.

watch -> snapshot -> drift -> plan -> reproduce -> assess -> attest -> ledger, and
replay of git history with the ledger into the ISO/IEC 23894 risk-management cycle.
"""

__version__ = "0.1.0"
