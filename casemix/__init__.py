"""casemix: China case-mix medical-insurance payment (CHS-DRG, DIP) for bureaus and hospitals."""

__version__ = "0.1.0"
