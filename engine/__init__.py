"""gridcredit: credit grades and differentiated service policies for electric power customers."""

from engine.errors import EngineError

__all__ = ["EngineError", "__version__"]
__version__ = "0.1.0"
