"""CTC loss: against brute-force enumeration of alignments, PyTorch's ctc_loss (float64, values and
gradients), central differences; the Keras loss class and greedy decoding."""

import itertools

import numpy as np
import pytest

import nerve
from nerve import losses, ops
from nerve.gradcheck import gradcheck


def brute_force_ctc(logits, labels):
    """-log of the summed probability of every alignment that collapses to ``labels`` (blank 0)."""
    frames, classes = logits.shape
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    total = 0.0
    for path in itertools.product(range(classes), repeat=frames):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != 0] == list(labels):
            total += np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return -np.log(total)


@pytest.mark.parametrize("labels", [[1], [1, 2], [2, 2], [1, 2, 1], []])
def test_ctc_equals_the_sum_over_all_alignments(labels):
    logits = np.random.default_rng(len(labels)).normal(size=(5, 3))
    padded = np.array([labels + [0] * (3 - len(labels))])
    got = ops.ctc_loss(padded, nerve.tensor(logits[None])).numpy()[0]
    np.testing.assert_allclose(got, brute_force_ctc(logits, labels), rtol=1e-12)


def test_ctc_values_and_gradients_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 15, 6)) * 2
    labels = np.array([[1, 2, 2, 0, 0], [3, 1, 4, 2, 5], [1, 0, 0, 0, 0], [4, 4, 4, 0, 0], [5, 3, 5, 3, 0]])
    target_length, output_length = np.array([3, 5, 1, 3, 4]), np.array([15, 11, 15, 7, 8])
    upstream = rng.uniform(0.5, 2.0, size=5)
    x = nerve.tensor(logits, requires_grad=True)
    loss = ops.ctc_loss(labels, x, target_length, output_length)
    (loss * nerve.tensor(upstream)).sum().backward()
    reference_logits = torch.tensor(logits, requires_grad=True)
    reference = torch.nn.functional.ctc_loss(torch.log_softmax(reference_logits, -1).transpose(0, 1),
                                             torch.tensor(labels), torch.tensor(output_length),
                                             torch.tensor(target_length), blank=0, reduction="none")
    (reference * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(loss.numpy(), reference.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), reference_logits.grad.numpy(), rtol=1e-8, atol=1e-12)
    # the default target lengths stop at the first blank: same values
    np.testing.assert_allclose(ops.ctc_loss(labels, nerve.tensor(logits), output_length=output_length).numpy(),
                               loss.numpy(), rtol=1e-12)


def test_ctc_gradient_by_central_differences(randn):
    logits = randn(3, 6, 4)
    labels = np.array([[1, 3, 0], [2, 2, 0], [3, 1, 2]])
    result = gradcheck(lambda z: ops.ctc_loss(labels, z, output_length=[6, 5, 6]), [logits], max_elements=None)
    assert result.passed, result


def test_impossible_target_has_infinite_loss_and_no_gradient():
    x = nerve.tensor(np.zeros((1, 3, 3)), requires_grad=True)
    loss = ops.ctc_loss([[1, 1, 1]], x)  # 1-1-1 needs 5 frames
    assert np.isinf(loss.numpy()[0])
    loss.sum().backward()
    assert (x.grad.numpy() == 0).all()


def test_ctc_loss_class_and_function():
    rng = np.random.default_rng(1)
    logits = nerve.tensor(rng.normal(size=(3, 8, 4)))
    labels = np.array([[1, 2, 0], [3, 0, 0], [1, 1, 2]])
    per_sample = losses.ctc(labels, logits).numpy()
    assert per_sample.shape == (3,)
    assert np.isclose(losses.CTC()(labels, logits).item(), per_sample.mean())
    assert np.isclose(losses.get("ctc")(labels, logits).item(), per_sample.mean())
    assert np.isclose(losses.CTC(reduction="sum")(labels, logits).item(), per_sample.sum())
    assert losses.serialize(losses.CTC())["class_name"] == "CTC"
    assert isinstance(losses.deserialize(losses.serialize(losses.CTC())), losses.CTC)
    assert isinstance(losses.get(losses.ctc), losses.CTC)
    # labels arriving as float arrays (as a training loop may pass them) read the same
    assert np.allclose(losses.ctc(labels.astype("float32"), logits).numpy(), per_sample)


def test_ctc_errors_say_what_was_expected():
    logits = nerve.tensor(np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match=r"expected integer targets of shape \(2, max_label_length\)"):
        ops.ctc_loss([[1, 2]], logits)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\) other than the blank 0, received 1..5"):
        ops.ctc_loss([[1, 5], [1, 0]], logits)
    with pytest.raises(ValueError, match=r"expected float logits of shape \(batch, frames, classes\)"):
        ops.ctc_loss([[1], [1]], nerve.tensor(np.zeros((2, 4))))
    with pytest.raises(ValueError, match=r"output_length must be in \[1, 4\], received \[4, 9\]"):
        ops.ctc_loss([[1], [1]], logits, output_length=[4, 9])


def test_greedy_decoding():
    best = np.array([[1, 1, 0, 1, 2, 2, 0, 0], [0, 0, 2, 0, 2, 1, 1, 1]])
    logits = np.log(np.eye(3)[best] * 0.9 + 0.05)
    decoded, scores = ops.ctc_decode(logits, sequence_lengths=[8, 6])
    assert decoded.shape == (1, 2, 8) and scores.shape == (1, 2)
    assert decoded[0, 0].tolist() == [1, 1, 2, -1, -1, -1, -1, -1]
    assert decoded[0, 1].tolist() == [2, 2, 1, -1, -1, -1, -1, -1]  # frames 7-8 are past its length
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(scores[0], [-log_softmax[0].max(-1).sum(), -log_softmax[1, :6].max(-1).sum()])
    with pytest.raises(ValueError, match="only strategy='greedy'"):
        ops.ctc_decode(logits, strategy="beam_search")
