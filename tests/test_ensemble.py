"""Softmax-averaging ensembles on synthetic members whose outputs are known exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nas.errors import NasError
from nas.tools.ensemble import ensemble_predict, evaluate_ensemble


class Lookup(nn.Module):
    """Returns fixed logits per sample: the input holds the sample's index."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", logits)
        self.seen_training: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen_training.append(self.training)
        return self.table[x.view(len(x), -1)[:, 0].long()]


# 4 samples, 3 classes, labels 0, 1, 2, 0.
LABELS = torch.tensor([0, 1, 2, 0])
A = torch.tensor([[4.0, 0, 0], [3.0, 2, 0], [0, 0, 1], [0, 5, 0]])  # right on 0, 2
B = torch.tensor([[0.0, 3, 0], [0, 4, 0], [0, 0, 6], [0, 0.5, 0]])  # right on 1, 2
INDEX = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1)


def test_prediction_is_the_average_of_softmaxes():
    a, b = Lookup(A), Lookup(B)
    probs = ensemble_predict([a, b], INDEX, batch_size=3)  # two batches
    torch.testing.assert_close(probs, (A.softmax(1) + B.softmax(1)) / 2)
    torch.testing.assert_close(probs.sum(1), torch.ones(4))
    weighted = ensemble_predict([a, b], INDEX, weights=[3, 1])
    torch.testing.assert_close(weighted, 0.75 * A.softmax(1) + 0.25 * B.softmax(1))
    # averaging probabilities is not the softmax of averaged logits
    assert not torch.allclose(probs, ((A + B) / 2).softmax(1))


def test_evaluation_of_ensemble_and_members():
    a, b = Lookup(A), Lookup(B)
    a.train()
    result = evaluate_ensemble([a, b], (INDEX, LABELS), names=["a", "b"])
    assert a.training and a.seen_training == [False]  # evaluated in eval mode, mode restored
    assert result.count == 4
    assert [m["name"] for m in result.members] == ["a", "b"]
    assert result.members[0]["top1"] == 50.0 and result.members[1]["top1"] == 50.0
    # by hand: the averaged probabilities pick class 0, 1, 2, 1 -> right on samples 0, 1, 2
    expected = ((A.softmax(1) + B.softmax(1)) / 2).argmax(1)
    assert expected.tolist() == [0, 1, 2, 1]
    assert result.top1 == 75.0 and result.top1 > result.best_member_top1
    assert result.top5 == 100.0  # top-5 of 3 classes is top-3: always right


def test_loader_input_and_top5():
    torch.manual_seed(0)
    logits = torch.randn(20, 10)
    labels = torch.randint(0, 10, (20,))
    loader = DataLoader(TensorDataset(torch.arange(20.0).view(20, 1), labels), batch_size=7)
    result = evaluate_ensemble([Lookup(logits)], loader)
    top5 = logits.topk(5, 1).indices
    assert result.top5 == pytest.approx(100.0 * float((top5 == labels[:, None]).any(1).float().mean()))
    assert result.top1 == pytest.approx(100.0 * float((logits.argmax(1) == labels).float().mean()))
    assert result.members[0]["top1"] == result.top1  # one member: the ensemble is that member


def test_bad_input():
    a = Lookup(A)
    with pytest.raises(NasError, match="different numbers of classes"):
        ensemble_predict([a, Lookup(torch.zeros(4, 5))], INDEX)
    with pytest.raises(NasError, match="needs labels"):
        evaluate_ensemble([a], INDEX)
    with pytest.raises(NasError, match="non-empty list"):
        ensemble_predict([], INDEX)
    with pytest.raises(NasError, match="weights"):
        ensemble_predict([a, a], INDEX, weights=[1, -1])
    with pytest.raises(NasError, match="names"):
        evaluate_ensemble([a, a], (INDEX, LABELS), names=["x"])
    with pytest.raises(NasError, match="3 labels"):
        evaluate_ensemble([a], (INDEX, LABELS[:3]))
