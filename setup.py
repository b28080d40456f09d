"""Build: the ingestion hot path compiled with Cython where a C compiler is at hand, plain Python otherwise.

The modules below run once per span of every landing file. Cython compiles them as they are (plain
Python, annotations not enforced), which takes about a fifth off the instructions per span (measured
by ``bench/ingestion_instructions.py``); the behaviour is the interpreter's, and the same tests run
either way. Without Cython or a compiler, or with ``EVAL_PIPELINES_PURE_PYTHON=1`` (for profiling with
cProfile, which cannot see inside compiled functions), the package installs as plain Python.

An editable install (``make install``) compiles in place, next to the sources: ``make`` recompiles
after a parsing module changes, and the test session refuses to start on stale compiled modules.
"""

from __future__ import annotations

import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

# The trace conventions' functions run for every span too: every module of their folder is compiled with them.
COMPILED_MODULES = [
    *(f"eval_pipelines/parsing/{name}.py"
      for name in ("files", "otlp_typed", "otlp_values", "records", "conventions", "messages", "plain", "feedback",
                   "staging")),
    *sorted(path for path in glob.glob("eval_pipelines/conventions/*.py") if not path.endswith("__init__.py")),
]


class OptionalBuildExt(build_ext):
    """Compiles what it can and leaves the rest as plain Python: a missing compiler is not an error."""

    def initialize_options(self) -> None:
        super().initialize_options()
        self.left_plain: list[Extension] = []

    def finalize_options(self) -> None:
        super().finalize_options()
        self.parallel = self.parallel or os.cpu_count()

    def run(self) -> None:
        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError) as error:
            self.warn(f"no compiled modules, eval_pipelines runs as plain Python: {error}")
            self.extensions = []  # nothing for an editable install to copy next to the sources

    def build_extensions(self) -> None:
        super().build_extensions()
        self.extensions = [ext for ext in self.extensions if ext not in self.left_plain]

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except (CCompilerError, ExecError, PlatformError) as error:
            self.warn(f"{ext.name} stays plain Python: {error}")
            self.left_plain.append(ext)


def extensions() -> list[Extension]:
    if os.environ.get("EVAL_PIPELINES_PURE_PYTHON"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    return cythonize(COMPILED_MODULES, quiet=True, nthreads=os.cpu_count() or 1,
                     compiler_directives={"language_level": "3", "annotation_typing": False})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
