"""Every error casemix raises on purpose, under one root a caller can catch.

::

    CasemixError                  anything casemix raises on purpose
    └── InputError                something the user can fix: a file, table, policy, scheme, URL
        ├── DataDirError          the reference data directory or one of its tables is missing
        ├── SchemeError           an unknown scheme name or a scheme table that breaks its layout
        ├── TableError            a file that cannot be read as a table, or an output that would harm an input
        ├── PolicyError           a policy file with an unknown, missing or ill-typed key
        ├── RuleError             a QC or audit rule catalogue entry that names an unknown kind
        ├── TokensError           a tokens file that would let a caller in without a valid role
        ├── DatabaseError         a store that cannot be opened (wrong URL, server down, corrupt file)
        ├── ReviewError           a review of an audit flag with an unknown verdict, or of a flag not stored
        ├── SettlementError       a settlement that would pay wrongly (budget ≤ 0, repeated cases …)
        ├── SpecialReviewError    a special-case application or decision that cannot stand (ineligible case …)
        ├── PublishError          a public-review document that cannot be made (no Chromium for the PDF …)
        └── EngineError           an unknown --engine, or one that cannot run here (Spark without pyspark or Java)

The command line catches ``InputError`` only and prints its one-line message; any other exception is
a bug and keeps its traceback. ``InputError`` is also a ``ValueError`` so that callers that caught
``ValueError`` before this hierarchy existed still do.
"""


class CasemixError(Exception):
    """The root of every error casemix raises on purpose."""


class InputError(CasemixError, ValueError):
    """Bad input a user can fix; the message names the file, record, key or field and what is wrong."""


class DataDirError(InputError):
    """The reference data directory cannot be found or lacks a table."""


class SchemeError(InputError):
    """An unknown scheme, or scheme tables that break their layout."""


class TableError(InputError):
    """A file that cannot be read as a table, or an output path that would overwrite an input."""


class PolicyError(InputError):
    """A policy file is missing a key or holds a value of the wrong kind."""


class RuleError(InputError):
    """A rule catalogue entry that names an unknown kind, category or severity."""


class TokensError(InputError):
    """A tokens file that is missing, malformed, or grants access without a valid role."""


class DatabaseError(InputError):
    """The database could not be opened (a wrong URL, a server that is down, a missing driver, a corrupt file)."""


class ReviewError(InputError):
    """A reviewer's verdict that is not confirmed/dismissed, or that names an audit flag the store lacks."""


class SettlementError(InputError):
    """Input that would settle a year wrongly: a budget that is not positive, a case claimed twice …"""


class SpecialReviewError(InputError):
    """A special-case (特病单议) application for an ineligible or unknown case, or a decision that cannot stand."""


class PublishError(InputError):
    """A public-review document (公开评议) that cannot be made: no Chromium to print the PDF, or it failed."""


class EngineError(InputError):
    """An unknown ``--engine``, or one that cannot run here: Spark without pyspark or without a Java runtime."""
