"""Replay: git history and the ledger, back into the ISO/IEC 23894 cycle per risk.

One direction, one module per step: :mod:`~seid.replay.history` (one streaming
``git log``, parsed by :mod:`~seid.replay.gitlog`) -> :mod:`~seid.replay.join`
(verified bundles by commit) -> :mod:`~seid.replay.cycle` (the cycle per risk) ->
:mod:`~seid.replay.findings` (the gaps an auditor needs named) ->
:mod:`~seid.replay.report` (JSON and Markdown; the schema in
:mod:`~seid.replay.schema`) and :mod:`~seid.replay.page` (HTML).
:mod:`~seid.replay.reexecute` re-runs pipelines for ``--reexecute``.
"""
