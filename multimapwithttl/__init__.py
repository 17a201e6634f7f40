"""multimapwithttl: a multimap kept in Redis in which every value expires on its own."""

from ._errors import DurabilityError
from ._reports import Stats, SweepReport
from .aio import AsyncMultiMapWithTTL
from .sync import MultiMapWithTTL

__version__ = "0.4.0"

__all__ = [
    "AsyncMultiMapWithTTL",
    "DurabilityError",
    "MultiMapWithTTL",
    "Stats",
    "SweepReport",
    "__version__",
]
