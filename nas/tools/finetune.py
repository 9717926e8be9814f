"""Fine-tuning moved to :mod:`nas.training.finetune` (``nas train`` uses it, and training may not import tools).

Its public names are re-exported here so that old imports keep working.
"""

from nas.training import finetune as _moved
from nas.training.finetune import *  # noqa: F403 - the public names, as nas.training.finetune lists them

__all__ = list(_moved.__all__)  # one list of public names, kept by the new module
