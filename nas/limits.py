"""Bounds that every input check shares, in a module light enough for any command to import.

``nas sample --seed`` and the other quick commands must not import pydantic or YAML
(``tests/test_cli_startup.py``), so the bounds live here and :mod:`nas.config_io` re-exports them.
"""

from __future__ import annotations

#: The largest seed any job accepts (NumPy's and the data splits' 32-bit seeds).
MAX_SEED = 2**32 - 1
