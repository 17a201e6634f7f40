"""0.1.0's module path: ``from multimapwithttl.multimapwithttl import MultiMapWithTTL`` works.

0.1.0 defined its class in this module; code written against it keeps
importing from here after the upgrade. New code imports from the package.
"""

from .aio import AsyncMultiMapWithTTL
from .sync import MultiMapWithTTL

__all__ = ["AsyncMultiMapWithTTL", "MultiMapWithTTL"]
