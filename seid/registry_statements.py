"""What is said about a model registry, in the form replay reads it back.

``seid promote`` records a promotion as ``https://seid.dev/promotion/v1``.

The sidecar (:mod:`seid.daemon.sidecar`) appends one ``https://seid.dev/finding/v1``
statement per version it finds holding the watched alias without what the manifest
requires; ``seid reconstruct`` reports each as a finding of the same kind. The
predicate: ``kind``, ``model``, ``version``, ``alias``, ``run_id``, ``source``,
``registry`` (the tracking URI) and ``observed`` (ISO 8601, when the sidecar saw it).
"""

from __future__ import annotations

FINDING_PREDICATE = "https://seid.dev/finding/v1"
PROMOTION_PREDICATE = "https://seid.dev/promotion/v1"  # seid promote's statement
WITHOUT_EVIDENCE = "promoted-without-passing-evidence"
WITHOUT_APPROVAL = "promoted-without-approval"
KINDS = (WITHOUT_EVIDENCE, WITHOUT_APPROVAL)
MEANING = {
    WITHOUT_EVIDENCE: "without a passing signed evidence bundle",
    WITHOUT_APPROVAL: "without an approval of its evidence",
}
