"""The evidence ledger: one append-only RFC 9162 Merkle log per signing key.

- :mod:`~seid.ledger.merkle`: leaf/node hashes, proof generation and verification;
- :mod:`~seid.ledger.records`: the on-disk framing of records and the head;
- :mod:`~seid.ledger.checkpoint`: signed checkpoints in signed-note form;
- :mod:`~seid.ledger.log`: the log itself (durable append, recovery, proofs);
- :mod:`~seid.ledger.verify`: streaming verification, what ``seid verify`` runs;
- :mod:`~seid.ledger.refs` / :mod:`~seid.ledger.publish`: logs in ``refs/seid/ledger/*``.
"""
