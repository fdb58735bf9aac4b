"""Samplers and generate(): distributions, nucleus sets, cached decoding equal to full recomputation."""

import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.training.text import GreedySampler, RandomSampler, TopKSampler, TopPSampler, generate, get_sampler


def frequencies(sampler, probs, n=20000):
    nerve.random.seed(0)
    ids = sampler(np.log(np.tile(probs, (n, 1))))
    return np.bincount(ids, minlength=len(probs)) / n


def test_random_sampler_follows_softmax_with_temperature():
    probs = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(frequencies(RandomSampler(), probs), probs, atol=0.015)
    tempered = probs ** 2 / (probs ** 2).sum()  # temperature 0.5 squares the probabilities
    np.testing.assert_allclose(frequencies(RandomSampler(temperature=0.5), probs), tempered, atol=0.015)


def test_top_k_and_top_p_keep_the_right_sets():
    probs = np.array([0.1, 0.45, 0.3, 0.15])
    top2 = frequencies(TopKSampler(k=2), probs)
    np.testing.assert_allclose(top2, [0, 0.6, 0.4, 0], atol=0.015)
    nucleus = frequencies(TopPSampler(p=0.8), probs)  # 0.45 + 0.3 < 0.8: the third (0.15) joins
    np.testing.assert_allclose(nucleus, [0, 0.5, 0.3333, 0.1667], atol=0.015)
    assert frequencies(TopPSampler(p=0.01), probs)[1] == 1.0
    assert GreedySampler()(np.log([probs])).tolist() == [1]


def test_sampler_errors():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        RandomSampler(temperature=0)
    with pytest.raises(ValueError, match="unknown sampler 'best'"):
        get_sampler("best")
    with pytest.raises(ValueError, match=r"logits of shape \(batch, vocabulary\)"):
        GreedySampler()(np.zeros(3))


def gpt(vocabulary=11, context=6):
    nerve.random.seed(1)
    return nerve.Sequential([layers.TokenAndPositionEmbedding(vocabulary, context, 8),
                             layers.TransformerDecoder(16, 2), layers.TransformerDecoder(16, 2, normalize_first=True),
                             layers.LayerNormalization(), layers.Dense(vocabulary)])


def test_cached_generation_equals_recomputation_including_past_the_window():
    model = gpt()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    fast = generate(model, prompt, 7)
    ids = prompt
    for _ in range(7):  # recomputation over the last 6 ids (the position table) at each step
        logits = model(ids[:, -6:]).numpy()[:, -1]
        ids = np.concatenate([ids, logits.argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(fast, ids)
    np.testing.assert_array_equal(generate(model, prompt, 7, use_cache=False), ids)
    nerve.random.seed(4)
    a = generate(model, prompt, 7, sampler=TopKSampler(k=3))
    nerve.random.seed(4)
    b = generate(model, prompt, 7, sampler=TopKSampler(k=3), use_cache=False)
    np.testing.assert_array_equal(a, b)


def test_cached_step_logits_match_full_pass():
    model = gpt()
    ids = np.array([[3, 1, 4, 1, 5]])
    full = model(ids).numpy()
    embedding, blocks, rest = model.layers[0], model.layers[1:3], model.layers[3:]
    x = embedding(ids[:, :2])
    caches = []
    for block in blocks:
        x, cache = block(x, return_cache=True)
        caches.append(cache)
    for t in range(2, 5):
        x = embedding(ids[:, t:t + 1], start_index=t)
        for i, block in enumerate(blocks):
            x, caches[i] = block(x, self_attention_cache=caches[i], return_cache=True)
        for layer in rest:
            x = layer(x)
        np.testing.assert_allclose(x.numpy()[:, 0], full[:, t], rtol=1e-4, atol=1e-5)


def test_end_token_and_probability_models():
    model = gpt()
    out = generate(model, np.array([1, 2]), 5, end_token_id=int(generate(model, np.array([1, 2]), 1)[-1]))
    assert out.ndim == 1 and len(out) == 3  # the first new token is the end token: stop
    soft = nerve.Sequential([layers.Embedding(11, 4), layers.Dense(11, activation="softmax")])
    ids = generate(soft, np.array([[1]]), 3, from_logits=False)
    assert ids.shape == (1, 4)
