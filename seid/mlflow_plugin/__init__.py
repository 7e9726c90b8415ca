"""MLflow plugins, found through entry points once ``seid[mlflow]`` is installed:
the run context provider that tags runs with their PRML claim (``context``) and the
verified ``seid://`` artifact store (``artifacts``). Nothing here is imported by the
``seid`` CLI, so MLflow stays optional.
"""
