"""``naswot``: how differently the untrained network's ReLUs split the minibatch.

Mellor et al. 2021, "Neural Architecture Search without Training" (ICML), as in
BayesWatch/nas-without-training (``score_networks.py``, ``scores.py``) and NASLib's
``nwot.py``: every ReLU application gives each image a binary code (which of its
inputs are positive); the kernel ``K = sum over ReLUs of C C^T + (1 - C)(1 - C)^T``
counts, for each pair of images, the units on which their codes agree; the score is
``log |det K|`` (``slogdet``). One forward pass, network in training mode (batch
statistics), as the reference; the pass is shared with other scores (:mod:`nas.proxies.passes`).

How ReLUs are found: the reference hooks ``nn.ReLU`` modules. Our cell networks apply a
ReLU shared by several edges once (a state read by k ReLU-first operations is activated
once, see :mod:`nas.ops`), where the reference has one ``nn.ReLU`` per edge. So every
ReLU evaluation is caught (``F.relu``, ``Tensor.relu_``, ``nn.ReLU`` and ``nn.ReLU6``,
through a :class:`~torch.overrides.TorchFunctionMode`) and counted once more for each
further ReLU-first operation that reads it (``forward_relu``): the kernel equals the
reference's (tests check it exactly against a per-edge forward of NAS-Bench-201 cells and
against module hooks on plain ReLU networks; DARTS cells follow the same protocol).
``nn.ReLU6`` counts as a ReLU, as the references' ``'ReLU' in type`` test does.

Which ReLUs: torch's, as NASLib (its test excludes its own classes). BayesWatch's test
``'ReLU' in str(type(module))`` also matches NAS-Bench-201's ``ReLUConvBN`` class, so there
every ReLU-conv-BN edge is counted twice (once for the module, once for its ReLU); the proxy
follows the paper's definition, one code per ReLU unit. ``ReluKernel(...,
relu_named_modules=True)`` counts as that test does, for methods whose authors' code uses it
(Zero-Cost-PT): the codes of the *input* of every module whose class name contains "ReLU",
once more. A forward hook sees what the module was called with, so an operation that zeroes
its input inside (the NB201 authors' ``block_input``, :func:`nas.darts.single_path.on_zero_input`)
still adds the codes of the real input there.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from nas.ops import is_relu_first
from nas.proxies.context import ScoringContext
from nas.proxies.registry import register_proxy

_RELUS = frozenset({F.relu, F.relu_, F.relu6, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_})


def _is_relu_call(func: Callable[..., Any], args: tuple, kwargs: dict) -> bool:
    if func in _RELUS:
        return True
    if func is F.hardtanh:  # nn.ReLU6 calls F.hardtanh(x, 0.0, 6.0)
        low = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
        return low == 0.0
    return False


def code_kernel(x: torch.Tensor) -> torch.Tensor:
    """``C C^T + (1 - C)(1 - C)^T`` (float64 ``[N, N]``) of the binary codes ``C = x > 0``."""
    c = (x.detach() > 0).flatten(1).to(torch.float32)
    agree = (c @ c.T).double()  # exact: each entry counts at most the units of one layer
    ones = c.sum(1).double()
    # (1 - c)(1 - c)^T = n - r_i - r_j + (c c^T)_ij
    return 2.0 * agree - ones[:, None] - ones[None, :] + float(c.shape[1])


class _Entry:
    __slots__ = ("kernel", "ref", "uses")

    def __init__(self, ref: weakref.ref, kernel: torch.Tensor) -> None:
        self.ref, self.kernel, self.uses = ref, kernel, 0


class _ReluCalls(TorchFunctionMode):
    """Adds the code kernel of every ReLU evaluated while active to ``owner.K``."""

    def __init__(self, owner: ReluKernel) -> None:
        super().__init__()
        self.owner = owner

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        kwargs = kwargs or {}
        if not _is_relu_call(func, args, kwargs):
            return func(*args, **kwargs)
        kernel = code_kernel(args[0])  # before an in-place ReLU overwrites its input
        out = func(*args, **kwargs)
        self.owner.evaluated(out, kernel)
        return out


class ReluKernel:
    """While entered, accumulates in ``K`` the NASWOT kernel of every ReLU the model applies.

    A probe of the shared pass (:mod:`nas.proxies.passes`): it records, it does not run.
    """

    def __init__(self, model: nn.Module, n: int, device: torch.device, *, relu_named_modules: bool = False) -> None:
        self.model = model
        self.relu_named_modules = relu_named_modules
        self.K = torch.zeros((n, n), dtype=torch.float64, device=device)
        self._seen: dict[int, _Entry] = {}
        self._stack: contextlib.ExitStack | None = None

    def evaluated(self, out: torch.Tensor, kernel: torch.Tensor) -> None:
        self.K += kernel
        key = id(out)
        self._seen[key] = _Entry(weakref.ref(out, lambda ref, k=key: self._forget(k, ref)), kernel)

    def _forget(self, key: int, ref: weakref.ref) -> None:
        entry = self._seen.get(key)
        if entry is not None and entry.ref is ref:
            del self._seen[key]

    def consumed(self, activated: torch.Tensor) -> None:
        """A ReLU-first operation reads ``activated``: from the second reader on, count its ReLU again."""
        entry = self._seen.get(id(activated))
        if entry is not None and entry.ref() is activated:
            entry.uses += 1
            if entry.uses > 1:
                self.K += entry.kernel
        else:  # activated out of our sight: its codes are those of its input
            self.K += code_kernel(activated)

    def __enter__(self) -> ReluKernel:
        stack = contextlib.ExitStack()
        stack.enter_context(_counting_relu_first_readers(self.model, self, self.relu_named_modules))
        stack.enter_context(_ReluCalls(self))
        self._stack = stack
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stack is not None
        self._stack.close()
        self._seen.clear()


def _relu_named(m: nn.Module) -> bool:
    """A module the references' ``'ReLU' in str(type(module))`` test picks besides torch's own ReLUs."""
    return "ReLU" in type(m).__name__ and not type(m).__module__.startswith("torch.")


@contextlib.contextmanager
def _counting_relu_first_readers(model: nn.Module, probe: ReluKernel, relu_named: bool) -> Iterator[None]:
    patched = []
    handles = []
    inside: set[int] = set()  # ReLU-named modules whose forward is running (their input is counted)
    try:
        for m in model.modules():
            if relu_named and _relu_named(m):

                def enter(module: nn.Module, args: tuple) -> None:
                    probe.K += code_kernel(args[0])
                    inside.add(id(module))

                def leave(module: nn.Module, args: tuple, out: Any) -> None:
                    inside.discard(id(module))

                # First among the pre-hooks: the input the caller gave, before any hook replaces it.
                handles.append(m.register_forward_pre_hook(enter, prepend=True))
                handles.append(m.register_forward_hook(leave))
            if is_relu_first(m) and "forward_relu" not in m.__dict__:
                original = m.forward_relu
                twice = relu_named and _relu_named(m)

                def counted(
                    x: torch.Tensor, _original: Callable = original, _twice: bool = twice, _m: nn.Module = m
                ) -> torch.Tensor:
                    probe.consumed(x)
                    if _twice and id(_m) not in inside:  # read a shared activation: its codes are its input's
                        probe.K += code_kernel(x)
                    return _original(x)

                object.__setattr__(m, "forward_relu", counted)
                patched.append(m)
        yield
    finally:
        for m in patched:
            object.__delattr__(m, "forward_relu")
        for h in handles:
            h.remove()


def relu_code_kernel(model: nn.Module, images: torch.Tensor, *, relu_named_modules: bool = False) -> torch.Tensor:
    """The NASWOT kernel of ``model`` on ``images`` (one forward pass in the model's current mode)."""
    with torch.no_grad(), ReluKernel(model, len(images), images.device, relu_named_modules=relu_named_modules) as probe:
        model(images)
    return probe.K


@register_proxy(
    "naswot",
    summary="log-determinant of the kernel of binary ReLU codes (how distinctly the net separates images)",
    reference="Mellor et al. 2021; BayesWatch/nas-without-training, NASLib nwot.py",
    shares=("relu_kernel",),
)
def naswot(ctx: ScoringContext) -> float:
    K = ctx.train_pass("relu_kernel").relu_kernel
    return float(torch.linalg.slogdet(K).logabsdet)
