from seid.cli.main import main

__all__ = ["main"]
