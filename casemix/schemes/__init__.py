"""Payment schemes read from the national tables: CHS-DRG 2.0 and 1.1."""

from casemix.schemes.chs_drg import SCHEMES, Adrg, Scheme, load_scheme
from casemix.schemes.rules import CodeList, EntryRule, Role

__all__ = ["SCHEMES", "Adrg", "CodeList", "EntryRule", "Role", "Scheme", "load_scheme"]
