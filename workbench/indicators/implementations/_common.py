"""Former name of :mod:`workbench.indicators.implementations.common`, kept while in-progress code moves over."""

from workbench.indicators.implementations.common import *  # noqa: F401,F403
