"""Whether this environment has a working torchvision: the Qwen-VL processors need it.

The main tier (`make test`, torch's CPU build) has none, since PyPI's torchvision does not
import beside that build; the families tier (`make test-families`, its own virtualenv with
torch 2.14.1 and torchvision 0.29.1) has it, and runs the tests marked `families`.
"""

import importlib.util
from functools import cache

import pytest

SKIP_REASON = (
    "needs torchvision beside torch (Qwen-VL processors): run it with `make test-families`"
)


@cache
def torchvision_works() -> bool:
    """torchvision is installed and imports (a build that does not match torch fails here)."""
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:  # 'operator torchvision::nms does not exist', and its kin
        return False
    return True


def families_skip(items: list[pytest.Item]) -> None:
    """Skip the tests marked `families`, saying why, where torchvision does not work."""
    if torchvision_works():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker("families"):
            item.add_marker(skip)
