"""Approvals: a named person's signed, version-bound sign-off of the risk treatment plan.

One direction: :mod:`~seid.approvals.statement` (what an approval binds to, the signed
statement, reading the ledger) and :mod:`~seid.approvals.trailers` (the same events as git
commit trailers) feed :mod:`~seid.approvals.lifecycle`, which applies
:mod:`~seid.approvals.policy` and gives the state: ``draft``, ``approval_requested``,
``approved``, ``rejected``, ``review_due`` or ``superseded``.
:mod:`~seid.approvals.authority` says which keys may grant which role (the trust
directory's holders, the policy's approvers); :mod:`~seid.approvals.decision` refuses a
decision before signing it, for ``seid approve``.
:mod:`~seid.approvals.standing` is that state as ``seid status`` shows it, cached and
probed for cheaply with :mod:`~seid.approvals.names` alone.
"""
