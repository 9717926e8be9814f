"""REINFORCE with a per-decision categorical policy, as in NAS-Bench-201 (Williams, 1992).

The policy is one independent softmax per decision (its logits are the parameters).
After each result, the log-probability of the sampled decision vector is pushed up in
proportion to its advantage ``score - baseline``, where the baseline is an exponential
moving average of past scores (it removes most of the variance at no cost). Adam
updates the logits; an optional entropy bonus keeps the policy from collapsing early.

Pure numpy: a policy of a few dozen numbers does not need autograd, and the state is
then exactly representable in JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from nas.config_io import NonNegFloat, PosFloat
from nas.controllers.base import Controller, ControllerOptions, Momentum, sample_index


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


class Reinforce(Controller):
    """Independent categorical policy per decision, moving-average baseline, Adam."""

    name = "reinforce"

    class Options(ControllerOptions):
        """Adam's step size on the logits, the baseline's momentum, the entropy bonus, rewards divided by a scale."""

        learning_rate: PosFloat = 0.08
        baseline_momentum: Momentum = 0.9
        entropy_weight: NonNegFloat = 0.0
        reward_scale: PosFloat = 1.0

    options: Options

    def _setup(self) -> None:
        self.logits = [np.zeros(n) for n in self.sizes]
        self._m = [np.zeros(n) for n in self.sizes]
        self._v = [np.zeros(n) for n in self.sizes]
        self.steps = 0
        self.baseline: float | None = None

    def probabilities(self) -> list[np.ndarray]:
        """The current policy, one probability vector per decision."""
        return [softmax(t) for t in self.logits]

    def _propose_values(self) -> list[int]:
        return [sample_index(p.tolist(), self.rng) for p in self.probabilities()]

    def _observe_values(self, values: list[int], score: float, metrics: dict[str, float]) -> None:
        reward = score / self.options.reward_scale
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        self.baseline = self.options.baseline_momentum * self.baseline + (1 - self.options.baseline_momentum) * reward
        self.steps += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        for k, (theta, choice) in enumerate(zip(self.logits, values)):
            p = softmax(theta)
            # d(-advantage * log p[choice]) / d theta = advantage * (p - onehot)
            grad = advantage * p
            grad[choice] -= advantage
            if self.options.entropy_weight:
                logp = np.log(p + 1e-12)
                entropy = -(p * logp).sum()
                grad += self.options.entropy_weight * p * (logp + entropy)  # minus the entropy's gradient
            self._m[k] = b1 * self._m[k] + (1 - b1) * grad
            self._v[k] = b2 * self._v[k] + (1 - b2) * grad * grad
            m_hat = self._m[k] / (1 - b1**self.steps)
            v_hat = self._v[k] / (1 - b2**self.steps)
            self.logits[k] = theta - self.options.learning_rate * m_hat / (np.sqrt(v_hat) + eps)

    def entropy(self) -> float:
        """Total entropy of the policy (nats): how undecided it still is."""
        return float(sum(-(p * np.log(p + 1e-12)).sum() for p in self.probabilities()))

    def _algorithm_state(self) -> dict[str, Any]:
        return {
            "logits": [t.tolist() for t in self.logits],
            "adam_m": [m.tolist() for m in self._m],
            "adam_v": [v.tolist() for v in self._v],
            "steps": self.steps,
            "baseline": self.baseline,
        }

    def _load_algorithm_state(self, state: Mapping[str, Any]) -> None:
        self.logits = [np.asarray(t, dtype=float) for t in state["logits"]]
        self._m = [np.asarray(t, dtype=float) for t in state["adam_m"]]
        self._v = [np.asarray(t, dtype=float) for t in state["adam_v"]]
        self.steps = int(state["steps"])
        baseline = state["baseline"]
        self.baseline = None if baseline is None or not math.isfinite(baseline) else float(baseline)
