"""OSCAL documents from the risk program: the assessment plan (``seid compile``) and the
results of a run (``seid run --oscal``). Import the submodules: :mod:`.plan`,
:mod:`.results`, and :mod:`.render` for the bytes."""
