"""Trace conventions, one module each: what marks an instrumentation's model calls and where its model, tokens
and messages are. A new instrumentation is a module here with its ``CONVENTION`` (and a fixture its real library
made); the parsing engine reads every span through all of them."""

import sys

from eval_pipelines.conventions.base import Convention
from eval_pipelines.discovery import package_modules

CONVENTIONS: tuple[Convention, ...] = tuple(module.CONVENTION for module in package_modules(sys.modules[__name__])
                                             if hasattr(module, "CONVENTION"))
BY_DETECTION = tuple(sorted(CONVENTIONS, key=lambda convention: convention.detection_order))
BY_FIELDS = tuple(sorted(CONVENTIONS, key=lambda convention: convention.field_order))
