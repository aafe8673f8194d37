# Type stubs of needlemap's native module (python/src/lib.rs), for editors
# and type checkers; checked against the module by mypy's stubtest
# (python/tests/test_package.py).
from typing import Any, Dict, List, Optional, Tuple, final

import numpy as np

__all__ = ["InputError", "RunError", "Study", "__version__", "scene_toml", "simulate"]

__version__: str

class InputError(ValueError):
    """A scene, strategies or mesh file that cannot be run: the command line's message."""

class RunError(RuntimeError):
    """A run that failed for a reason other than its input."""

def simulate(
    path: str,
    text: Optional[str] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    max_memory_mb: Optional[int] = None,
) -> Tuple[str, Dict[str, np.ndarray]]: ...
def scene_toml(d: Dict[str, Any]) -> str: ...

@final
class Study:
    def __new__(
        cls,
        inputs: List[str],
        texts: List[Optional[str]],
        zones: Optional[List[str]] = None,
        seeds: Optional[int] = None,
        first_seed: Optional[int] = None,
    ) -> Study: ...
    @staticmethod
    def _replay(
        inputs: List[str],
        zones: Optional[List[str]],
        seeds: Optional[int],
        first_seed: Optional[int],
        files: Dict[str, bytes],
    ) -> Study: ...
    def __reduce__(self) -> Tuple[Any, Any]: ...
    @property
    def strategies(self) -> List[str]: ...
    @property
    def zones(self) -> List[str]: ...
    @property
    def seeds(self) -> List[int]: ...
    @property
    def metrics(self) -> List[str]: ...
    @property
    def files(self) -> List[str]: ...
    def run(self, seeds: List[int], threads: Optional[int] = None) -> List[List[List[List[float]]]]: ...
    def table(self, values: List[List[List[List[float]]]], confidence: float) -> List[Dict[str, Any]]: ...
