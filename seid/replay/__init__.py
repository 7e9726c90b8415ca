"""Replay: git history and the ledger, back into the ISO/IEC 23894 cycle per risk.

One direction, one module per step: :mod:`~seid.replay.history` (one streaming
``git log``) -> :mod:`~seid.replay.join` (verified bundles by commit) ->
:mod:`~seid.replay.cycle` (the cycle per risk) -> :mod:`~seid.replay.findings` (the
gaps an auditor needs named) -> :mod:`~seid.replay.report` (JSON, Markdown, HTML).
"""
