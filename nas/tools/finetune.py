"""Fine-tuning moved to :mod:`nas.training.finetune` (``nas train`` uses it, and training may not import tools).

Its public names are re-exported here so that old imports keep working.
"""

from nas.training.finetune import (
    TRANSFER_FILE,
    TransferReport,
    finetune_args,
    freeze,
    load_state_dict_file,
    prepare_finetune,
    refuse_finetuning_run,
    transfer_weights,
)

__all__ = [
    "TRANSFER_FILE",
    "TransferReport",
    "finetune_args",
    "freeze",
    "load_state_dict_file",
    "prepare_finetune",
    "refuse_finetuning_run",
    "transfer_weights",
]
