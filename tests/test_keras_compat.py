"""Keras 3 idioms on nerve (issue 18): functional helpers, ops on symbolic tensors, model/layer idioms."""

import json

import numpy as np
import pytest

import nerve
from nerve import layers


def test_ops_on_symbolic_inputs_become_graph_nodes_and_save(tmp_path):
    a, b = nerve.Input(shape=(2,)), nerve.Input(shape=(3,))
    merged = nerve.concatenate([nerve.ops.relu(a), b * 2.0, 1.0 - b], axis=-1)
    model = nerve.Model([a, b], merged)
    xa, xb = np.array([[-1.0, 1.0], [2.0, -3.0]]), np.arange(6.0).reshape(2, 3)
    expected = np.concatenate([np.maximum(xa, 0), xb * 2, 1 - xb], axis=-1)
    np.testing.assert_allclose(model([xa, xb]).numpy(), expected)
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")([xa, xb]).numpy(), expected)


def test_symbolic_operators_indexing_and_dtype_arguments(tmp_path):
    x = nerve.Input(shape=(4, 3))
    y = -(x[:, 1:, ::2] ** 2) / 2.0 @ np.ones((2, 2), dtype=np.float32)
    z = nerve.ops.cast(nerve.ops.sum(y, axis=(1, 2)), np.float64)
    model = nerve.Model(x, z)
    data = np.random.default_rng(0).normal(size=(5, 4, 3)).astype(np.float32)
    expected = ((-(data[:, 1:, ::2] ** 2) / 2) @ np.ones((2, 2))).sum(axis=(1, 2))
    out = model(data)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")(data).numpy(), expected, rtol=1e-5)


def test_symbolic_op_gradients_flow_to_earlier_layers():
    x = nerve.Input(shape=(3,))
    h = layers.Dense(4)(x)
    model = nerve.Model(x, layers.Dense(1)(nerve.ops.tanh(h) * 3.0))
    model.compile(optimizer="sgd", loss="mse")
    before = model.layers[0].kernel.numpy().copy()
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)
    assert not np.allclose(before, model.layers[0].kernel.numpy())


def test_symbolic_tensor_refuses_numpy_conversion():
    with pytest.raises(TypeError, match="placeholder"):
        np.asarray(nerve.Input(shape=(2,)))


def test_op_layer_config_names_only_public_ops():
    config = {"op": "system", "args": [], "kwargs": {}, "name": "bad"}
    with pytest.raises(ValueError, match="not a public function of nerve.ops"):
        layers.OpLayer.from_config(config)
    with pytest.raises(ValueError, match="not a public function of nerve.ops"):
        layers.OpLayer.from_config({**config, "op": "_as_tensor"})


@pytest.mark.parametrize("helper, cls, fn", [
    ("add", "Add", lambda a, b: a + b), ("subtract", "Subtract", lambda a, b: a - b),
    ("multiply", "Multiply", lambda a, b: a * b), ("average", "Average", lambda a, b: (a + b) / 2),
    ("maximum", "Maximum", np.maximum), ("minimum", "Minimum", np.minimum),
    ("concatenate", "Concatenate", lambda a, b: np.concatenate([a, b], axis=-1)),
])
def test_functional_merge_helpers(helper, cls, fn, tmp_path):
    a, b = nerve.Input(shape=(3,)), nerve.Input(shape=(3,))
    out = getattr(layers, helper)([a, b], name=f"merge_{helper}")
    model = nerve.Model([a, b], out)
    assert type(model.get_layer(f"merge_{helper}")).__name__ == cls
    xa, xb = np.array([[1.0, -2.0, 3.0]]), np.array([[0.5, 4.0, -1.0]])
    np.testing.assert_allclose(model([xa, xb]).numpy(), fn(xa, xb))
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")([xa, xb]).numpy(), fn(xa, xb))


def test_dot_matches_torch_batched_products_and_cosine():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 6, 3))
    tx, ty = torch.tensor(x), torch.tensor(y)
    out = layers.Dot(axes=2)([x, y]).numpy()
    np.testing.assert_allclose(out, torch.bmm(tx, ty.transpose(1, 2)).numpy(), rtol=1e-5)
    u, v = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 6))
    out = layers.Dot(axes=1)([u, v]).numpy()  # (4, 3, 6)
    np.testing.assert_allclose(out, torch.bmm(torch.tensor(u).transpose(1, 2), torch.tensor(v)).numpy(), rtol=1e-5)
    p, q = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    cos = torch.nn.functional.cosine_similarity(torch.tensor(p), torch.tensor(q)).numpy()[:, None]
    np.testing.assert_allclose(layers.dot([p, q], axes=1, normalize=True).numpy(), cos, rtol=1e-5)


def test_dot_gradient_check():
    rng = np.random.default_rng(1)
    x = nerve.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    y = nerve.tensor(rng.normal(size=(2, 5, 4)), requires_grad=True)
    layer = layers.Dot(axes=(2, 2), normalize=True)
    assert nerve.gradcheck.gradcheck(lambda a, b: layer([a, b]), [x, y])


def test_dot_errors_name_the_layer():
    with pytest.raises(ValueError, match="'d'.*differ in size"):
        layers.Dot(axes=1, name="d")([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="batch axis"):
        layers.Dot(axes=0)([np.ones((2, 3)), np.ones((2, 3))])


def _trained_sequential():
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(6),
                              layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4))
    model.fit(x, np.ones((16, 2)), epochs=2, verbose=0)
    return model, x


def test_feature_extractor_from_layer_output_of_sequential_and_functional():
    model, x = _trained_sequential()
    extractor = nerve.Model(inputs=model.input, outputs=model.layers[1].output)
    hidden = np.maximum(x @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy(), 0)
    expected = hidden @ model.layers[1].kernel.numpy() + model.layers[1].bias.numpy()
    np.testing.assert_allclose(extractor.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert extractor.layers[0] is model.layers[0]  # shares the trained layers
    inputs = nerve.Input(shape=(4,))
    functional = nerve.Model(inputs, layers.Dense(1, name="head")(layers.Dense(3, name="body")(inputs)))
    sub = nerve.Model(functional.input, functional.get_layer("body").output)
    assert sub.output_shape == (None, 3) and functional.get_layer("body").input is inputs
    multi = nerve.Model(inputs=model.inputs, outputs=[l.output for l in model.layers])
    assert [tuple(o.shape) for o in multi(x[:3])] == [(3, 8), (3, 6), (3, 2)]


def test_layer_output_without_functional_call_says_what_to_do():
    with pytest.raises(AttributeError, match="never called on a functional-API tensor"):
        layers.Dense(2).output
    with pytest.raises(AttributeError, match="nerve.Input"):
        nerve.Sequential([layers.Dense(2)]).input


def test_output_attribute_of_a_subclassed_layer_still_assignable():
    class Net(nerve.Model):
        def __init__(self):
            super().__init__()
            self.output = layers.Dense(1)

        def call(self, x):
            return self.output(x)

    net = Net()
    assert net(np.ones((2, 3))).shape == (2, 1) and len(net.trainable_variables) == 2


def test_sequential_pop():
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(4), layers.Dense(1)])
    last = model.pop()
    assert last.units == 1 and model.output_shape == (None, 4) and len(model.layers) == 1
    assert model.output.shape == (None, 4)
    model.add(layers.Dense(3))
    assert model(np.ones((5, 2))).shape == (5, 3)


def test_to_json_model_from_json_and_clone_model_keep_architecture_not_weights():
    model, x = _trained_sequential()
    text = model.to_json()
    assert json.loads(text)["class_name"] == "Sequential"
    for copy in (nerve.models.model_from_json(text), nerve.models.clone_model(model)):
        assert [type(l).__name__ for l in copy.layers] == ["Dense", "Dense", "Dense"]
        assert copy.count_params() == model.count_params()
        assert not np.allclose(copy.layers[0].kernel.numpy(), model.layers[0].kernel.numpy())
        copy.set_weights(model.get_weights())
        np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_clone_functional_model_with_shared_layer_and_clone_function():
    a, b = nerve.Input(shape=(3,), name="a"), nerve.Input(shape=(3,), name="b")
    shared = layers.Dense(2, name="shared")
    model = nerve.Model([a, b], layers.concatenate([shared(a), shared(b), nerve.ops.relu(a)]))
    copy = nerve.models.clone_model(model)
    assert len(copy.layers) == len(model.layers) and copy.count_params() == 8
    copy.set_weights(model.get_weights())
    xa, xb = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(copy([xa, xb]).numpy(), model([xa, xb]).numpy(), rtol=1e-6)
    same = nerve.models.clone_model(model, clone_function=lambda layer: layer)
    assert same.get_layer("shared") is shared
    new_a, new_b = nerve.Input(shape=(3,)), nerve.Input(shape=(3,))
    rooted = nerve.models.clone_model(model, input_tensors=[new_a, new_b])
    assert rooted.inputs == [new_a, new_b]


def test_models_namespace_save_and_load(tmp_path):
    model, x = _trained_sequential()
    nerve.models.save_model(model, tmp_path / "m.nerve")
    loaded = nerve.models.load_model(tmp_path / "m.nerve")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="model_from_json"):
        nerve.models.model_from_json("not json")


def test_apply_gradients_matches_step_and_torch_adam():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=(3, 2)), [rng.normal(size=(3, 2)) for _ in range(3)]
    w = nerve.tensor(start.copy(), requires_grad=True)
    opt = nerve.optimizers.Adam(0.1)
    tw = torch.tensor(start.copy(), requires_grad=True)
    topt = torch.optim.Adam([tw], lr=0.1, eps=1e-7)
    for g in grads:
        assert opt.apply_gradients(zip([g], [w])) == opt.iterations
        tw.grad = torch.tensor(g)
        topt.step()
        assert w.grad is None
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-10)


def test_custom_training_loop_with_apply_gradients_learns():
    nerve.random.seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(1)])
    optimizer = nerve.optimizers.SGD(0.1)
    loss_fn = nerve.losses.MeanSquaredError()
    for _ in range(100):
        loss = loss_fn(y, model(x, training=True))
        loss.backward()
        grads = [v.grad for v in model.trainable_variables]
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    np.testing.assert_allclose(model.layers[0].kernel.numpy().ravel(), [1.0, -2.0, 0.5], atol=1e-3)


def test_apply_gradients_errors():
    w, v = nerve.tensor([1.0], requires_grad=True), nerve.tensor([1.0], requires_grad=True)
    opt = nerve.optimizers.SGD(0.1)
    opt.apply_gradients([(np.ones(1), w)])
    with pytest.raises(ValueError, match="not among the 1 this optimizer"):
        opt.apply_gradients([(np.ones(1), v)])
    with pytest.raises(ValueError, match="shape"):
        opt.apply_gradients([(np.ones(2), w)])
    with pytest.raises(TypeError, match="pairs"):
        opt.apply_gradients([np.ones(1)])
    opt.apply_gradients([(None, w)])  # a None gradient leaves the variable alone
    assert w.numpy().tolist() == pytest.approx([0.9])


def test_backend_settings():
    backend = nerve.backend
    assert backend.floatx() == "float32" and backend.epsilon() == 1e-7 and backend.backend() == "nerve"
    backend.set_floatx("float64")
    try:
        model = nerve.Sequential([nerve.Input(shape=(3,), dtype="float64"), layers.Dense(2)])
        assert model.layers[0].kernel.dtype == np.float64 and backend.floatx() == "float64"
    finally:
        backend.set_floatx("float32")
    assert layers.Dense(2)(np.ones((1, 3))).dtype == np.float32
    with pytest.raises(ValueError, match="float16"):
        backend.set_floatx("int32")
    with pytest.raises(ValueError, match="channels_last"):
        backend.set_image_data_format("channels_first")
    backend.set_epsilon(1e-4)
    assert backend.epsilon() == 1e-4
    backend.set_epsilon(1e-7)
    backend.clear_session()
    assert layers.Dense(1).name == "dense" and backend.get_uid("x") == 1 and backend.get_uid("x") == 2
    assert backend.result_type("int32", "float16") == "float16" and backend.result_type("int8", "uint8") == "int16"
    assert backend.is_keras_tensor(nerve.Input(shape=(1,))) and not backend.is_keras_tensor(np.ones(1))
    assert backend.standardize_dtype(np.dtype("float16")) == "float16"


class _Terminal:
    """A text stream that says it is a terminal (the progress bar draws only on terminals)."""

    def __init__(self):
        import io

        self.buffer = io.StringIO()

    def write(self, text):
        return self.buffer.write(text)

    def flush(self):
        pass

    def isatty(self):
        return True


@pytest.mark.parametrize("width", [200, 120, 80, 50])
def test_progress_bar_never_cuts_a_metric(width, monkeypatch):
    import nerve.training.callbacks as callbacks_module

    monkeypatch.setattr(callbacks_module, "_terminal_width", lambda stream: width)
    out = _Terminal()
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.default_rng(0).normal(size=(64, 3)), np.arange(64) % 3
    history = model.fit(x, y, epochs=1, batch_size=8, validation_split=0.25, verbose=0,
                        callbacks=[nerve.callbacks.ProgbarLogger(stream=out)])
    final = out.buffer.getvalue().split("\r")[-1]
    assert max(len(line) for line in final.splitlines()) < max(width, 160)  # tqdm's own 10-column bar at 200
    if width <= 120:
        assert max(len(line) for line in final.splitlines()) < width
    for key, values in history.history.items():
        formatted = f"{values[-1]:.3g}" if key == "learning_rate" else f"{values[-1]:.4f}"
        assert f"{key}: {formatted}" in final, (key, final)


def test_erf_matches_math_erf_over_the_line():
    import math

    x = np.linspace(-7, 7, 20001)
    expected = np.vectorize(math.erf)(x)
    np.testing.assert_allclose(nerve.ops.erf(nerve.tensor(x)).numpy(), expected, rtol=0, atol=3e-15)
    np.testing.assert_allclose(nerve.ops.erf(nerve.tensor(x.astype(np.float32))).numpy(), expected, rtol=0, atol=2e-6)


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_values_and_gradients_match_torch(approximate):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(scale=3, size=(4, 50))
    upstream = np.random.default_rng(1).normal(size=x.shape)
    ours = nerve.tensor(x, requires_grad=True)
    nerve.activations.gelu(ours, approximate=approximate).backward(nerve.tensor(upstream))
    theirs = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.gelu(theirs, approximate="tanh" if approximate else "none")
    out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(nerve.activations.gelu(nerve.tensor(x), approximate=approximate).numpy(),
                               out.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_erf_and_exact_gelu_gradient_check():
    x = nerve.tensor(np.linspace(-4, 4, 17), requires_grad=True)
    assert nerve.gradcheck.gradcheck(nerve.ops.erf, [x], max_elements=None)
    assert nerve.gradcheck.gradcheck(nerve.ops.gelu_exact, [x], max_elements=None)


def test_gelu_activation_name_is_exact_and_layers_agree():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(3, 4))
    dense = layers.Dense(5, activation="gelu", dtype="float64")
    out = dense(x.astype(np.float64)).numpy()
    pre = x @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(out, torch.nn.functional.gelu(torch.tensor(pre)).numpy(), rtol=1e-10)
    assert nerve.ops.gelu is not nerve.activations.gelu
    assert nerve.activations.get("gelu") is nerve.activations.gelu


def test_initializer_and_constraint_keras_spellings(tmp_path):
    init = nerve.initializers
    assert init.LecunNormal is init.LeCunNormal and init.glorot_uniform is init.GlorotUniform
    assert init.deserialize({"class_name": "LecunNormal", "config": {}}).__class__ is init.LeCunNormal
    np.testing.assert_array_equal(init.Identity(gain=3.0)((3, 2)), 3.0 * np.eye(3, 2))
    with pytest.raises(ValueError, match="2-D"):
        init.identity()((2, 2, 2))
    assert nerve.constraints.max_norm is nerve.constraints.MaxNorm
    model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(4, kernel_initializer="identity",
                                                                     kernel_constraint=nerve.constraints.non_neg())])
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), np.eye(4))
    model.save(tmp_path / "m.nerve")
    assert type(nerve.load_model(tmp_path / "m.nerve").layers[0].kernel_constraint).__name__ == "NonNeg"


def test_model_api_metrics_names_compute_loss_and_build_config():
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2, kernel_regularizer=nerve.regularizers.L2(0.1))])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert model.metrics_names == [] and model.metrics == []
    x, y = np.random.default_rng(0).normal(size=(8, 3)), np.ones((8, 2))
    loss, mae = model.evaluate(x, y, verbose=0)
    assert model.metrics_names == ["loss", "mae"] and model.get_metrics_result() == {"mae": pytest.approx(mae)}
    pred = model(x)
    kernel = model.layers[0].kernel.numpy()
    expected = ((pred.numpy() - y) ** 2).mean() + 0.1 * (kernel ** 2).sum()
    assert model.compute_loss(x=x, y=y).item() == pytest.approx(expected, rel=1e-6)
    assert model.compute_loss(y=y, y_pred=pred).item() == pytest.approx(expected, rel=1e-6)
    model.reset_metrics()
    assert model.get_metrics_result() == {"mae": 0.0}
    assert model.compute_metrics(x, y, pred) == {"mae": pytest.approx(np.abs(pred.numpy() - y).mean(), rel=1e-6)}
    np.testing.assert_allclose(model.predict_step(x).numpy(), pred.numpy())
    assert model.compute_output_shape((None, 3)) == (None, 2)
    twin = nerve.Sequential([layers.Dense(2)])
    twin.build_from_config(model.get_build_config())
    assert twin.count_params() == model.count_params() and model.run_eagerly and model.path == model.name
    with pytest.raises(ValueError, match="give y_pred"):
        model.compute_loss(y=y)


def test_config_namespace_and_interactive_logging(monkeypatch):
    import nerve.training.callbacks as callbacks_module

    assert nerve.config.floatx is nerve.backend.floatx and nerve.config.dtype_policy().name == "float32"
    out = _Terminal()
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    nerve.config.disable_interactive_logging()
    try:
        model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
                  callbacks=[nerve.callbacks.ProgbarLogger(stream=out)])
    finally:
        nerve.config.enable_interactive_logging()
    lines = out.buffer.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2 - ") and "\r" not in out.buffer.getvalue()
    assert callbacks_module.ProgbarLogger(stream=out)._interactive()


def test_orthogonal_regularizer_formula_gradient_and_saving(tmp_path):
    w = np.random.default_rng(0).normal(size=(4, 3))
    for mode, vectors in (("rows", w), ("columns", w.T)):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        gram = np.abs(unit @ unit.T)
        n = len(gram)
        expected = 0.2 * 0.5 * (gram.sum() - np.trace(gram)) / (n * (n - 1) / 2)
        reg = nerve.regularizers.OrthogonalRegularizer(factor=0.2, mode=mode)
        assert reg(nerve.tensor(w)).item() == pytest.approx(expected, rel=1e-12)
        assert nerve.gradcheck.gradcheck(reg, [nerve.tensor(w, requires_grad=True)])
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4, kernel_regularizer="orthogonal_regularizer")])
    model.save(tmp_path / "m.nerve")
    loaded = nerve.load_model(tmp_path / "m.nerve").layers[0].kernel_regularizer
    assert type(loaded).__name__ == "OrthogonalRegularizer" and loaded.mode == "rows"
