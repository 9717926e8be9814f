"""An autoregressive LSTM controller trained with REINFORCE (Zoph & Le 2017; ENAS, Pham et al. 2018).

Unlike the per-decision policy of :mod:`nas.controllers.reinforce`, each decision is
conditioned on all earlier ones: an LSTM reads the embedding of the previous choice and
a per-decision linear head gives the logits of the next. As in ENAS, logits are divided
by a temperature and squashed by ``tanh_constant * tanh`` (which bounds how confident the
policy can become), an entropy bonus delays collapse, and a moving-average baseline
reduces the variance of the gradient.

The state (weights and Adam moments) is stored as JSON lists of float32 values, so a
restored controller continues bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nas.config_io import NonNegFloat, PosFloat, PosInt
from nas.controllers.base import Controller, ControllerOptions, Momentum, sample_index


class _Policy(nn.Module):
    def __init__(self, sizes: list[int], hidden: int) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.embeddings = nn.ModuleList(nn.Embedding(n, hidden) for n in sizes)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in sizes)


class LSTMController(Controller):
    """ENAS-style LSTM policy over the decisions, in the space's order."""

    name = "lstm"

    class Options(ControllerOptions):
        """ENAS' controller settings (temperature, tanh constant, entropy bonus), Adam on the weights."""

        hidden_size: PosInt = 32
        learning_rate: PosFloat = 0.005
        baseline_momentum: Momentum = 0.9
        entropy_weight: NonNegFloat = 0.0001
        temperature: PosFloat = 1.0
        tanh_constant: NonNegFloat = 2.5
        reward_scale: PosFloat = 100.0

    options: Options

    def _setup(self) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        self.policy = _Policy(self.sizes, self.options.hidden_size)
        with torch.no_grad():
            for p in self.policy.parameters():
                p.copy_(torch.rand(p.shape, generator=generator) * 0.2 - 0.1)  # ENAS: uniform(-0.1, 0.1)
        self._m = {n: torch.zeros_like(p) for n, p in self.policy.named_parameters()}
        self._v = {n: torch.zeros_like(p) for n, p in self.policy.named_parameters()}
        self.steps = 0
        self.baseline: float | None = None

    def _logits(self, h: torch.Tensor, k: int) -> torch.Tensor:
        logits = self.policy.heads[k](h)[0] / self.options.temperature
        if self.options.tanh_constant:
            logits = self.options.tanh_constant * torch.tanh(logits)
        return logits

    def _run(self, values: list[int] | None) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Sample (``values is None``) or score a decision vector: choices, sum log-prob, sum entropy."""
        x = self.policy.start
        state = None
        chosen: list[int] = []
        log_prob = torch.zeros(())
        entropy = torch.zeros(())
        for k in range(len(self.sizes)):
            state = self.policy.lstm(x, state)
            log_p = torch.log_softmax(self._logits(state[0], k), dim=-1)
            if values is None:
                choice = sample_index(log_p.detach().exp().tolist(), self.rng)
            else:
                choice = int(values[k])
            chosen.append(choice)
            log_prob = log_prob + log_p[choice]
            entropy = entropy - (log_p.exp() * log_p).sum()
            x = self.policy.embeddings[k](torch.tensor([choice]))
        return chosen, log_prob, entropy

    def _propose_values(self) -> list[int]:
        with torch.no_grad():
            values, _, _ = self._run(None)
        return values

    def _observe_values(self, values: list[int], score: float, metrics: dict[str, float]) -> None:
        reward = score / self.options.reward_scale
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        self.baseline = self.options.baseline_momentum * self.baseline + (1 - self.options.baseline_momentum) * reward
        self.policy.zero_grad(set_to_none=True)
        _, log_prob, entropy = self._run(values)
        loss = -advantage * log_prob - self.options.entropy_weight * entropy
        loss.backward()
        self._adam_step()

    def _adam_step(self) -> None:
        self.steps += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        with torch.no_grad():
            for name, p in self.policy.named_parameters():
                if p.grad is None:
                    continue
                self._m[name].mul_(b1).add_(p.grad, alpha=1 - b1)
                self._v[name].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat = self._m[name] / (1 - b1**self.steps)
                v_hat = self._v[name] / (1 - b2**self.steps)
                p.sub_(self.options.learning_rate * m_hat / (v_hat.sqrt() + eps))

    def _algorithm_state(self) -> dict[str, Any]:
        def dump(tensors: Mapping[str, torch.Tensor]) -> dict[str, list[Any]]:
            return {n: t.detach().tolist() for n, t in tensors.items()}

        return {
            "weights": dump(dict(self.policy.named_parameters())),
            "adam_m": dump(self._m),
            "adam_v": dump(self._v),
            "steps": self.steps,
            "baseline": self.baseline,
        }

    def _load_algorithm_state(self, state: Mapping[str, Any]) -> None:
        params = dict(self.policy.named_parameters())
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(torch.tensor(state["weights"][name], dtype=p.dtype))
        self._m = {n: torch.tensor(state["adam_m"][n], dtype=p.dtype) for n, p in params.items()}
        self._v = {n: torch.tensor(state["adam_v"][n], dtype=p.dtype) for n, p in params.items()}
        self.steps = int(state["steps"])
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
