"""What the commands do with trained networks, beyond training them.

- :mod:`nas.tools.cam`: CAM / Grad-CAM maps and their overlays (``nas cam``).
- :mod:`nas.training.finetune`: bottom-up weight transfer, freezing, and ``--init-from`` runs (``nas train``).
- :mod:`nas.tools.ensemble`: softmax-averaging ensembles, and evaluating run directories (``nas evaluate``).
- :mod:`nas.tools.export_model`: ONNX / TorchScript export checked against PyTorch (``nas export``).

Each works on plain ``nn.Module``s; the run-directory entry points read runs through
:mod:`nas.training.finished`, so every command agrees on which weights a run selected.
"""
