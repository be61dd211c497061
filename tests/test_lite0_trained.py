"""What the trained EfficientNet-Lite0 (ImageNet weights from the install) answers beyond its top-1:
where Grad-CAM looks, LiteRT's agreement with TensorFlow on real weights, and how much better its
features are than a random base's for transfer learning. Offline, nothing downloaded.

Where is "the cat"? The model's 224×224 view of chelsea is the cat's face filling the frame (no
background to speak of), so a box on chelsea alone could not tell "looks at the cat" from "looks at
the middle". Instead the test puts the cat and the espresso side by side in one image, each half a
photo resized to 112×224: the cat region is the left half by construction. The same image explained
for a cat class and for espresso must put the mass on opposite halves, so a centre bias or a map that
ignores the class cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnviz import infer, litert, samples, visualize, zoo
from cnnviz.images import fit_and_crop

NAME = "efficientnetlite0"
CAT_CLASSES = {281, 282, 283, 284, 285}
ESPRESSO = 967


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    """TensorFlow and LiteRT predictors on the installed weights, converted once for the module."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("lite0_trained")
    mp.setenv("CNNVIZ_CACHE_DIR", str(folder))
    mp.setenv("CNNVIZ_OFFLINE", "1")
    try:
        yield {"tf": infer.load_predictor(NAME, weights="imagenet", engine="tf")}
    finally:
        mp.undo()


def side_by_side() -> Image.Image:
    left = fit_and_crop(samples.load_sample("cat"), (224, 112))
    right = fit_and_crop(samples.load_sample("coffee"), (224, 112))
    out = Image.new("RGB", (224, 224))
    out.paste(left, (0, 0))
    out.paste(right, (112, 0))
    return out


def test_gradcam_puts_the_cat_on_the_cat_and_the_espresso_on_the_cup(lite):
    model, pred = lite["tf"].model, lite["tf"]
    image = side_by_side()
    x = pred.preprocess(image)[0]
    probs = pred.predict(image).probs
    cat = max(CAT_CLASSES, key=lambda i: probs[i])
    cam_cat = visualize.grad_cam(model, x, cat)
    cam_cup = visualize.grad_cam(model, x, ESPRESSO)
    assert cam_cat.shape == (224, 224) and cam_cat.max() > 0 and cam_cup.max() > 0
    left_cat = cam_cat[:, :112].sum() / cam_cat.sum()
    right_cup = cam_cup[:, 112:].sum() / cam_cup.sum()
    # Measured: cat 0.9x on the cat's half, espresso 0.9x on the cup's half (see the issue note).
    assert left_cat > 0.75, left_cat
    assert right_cup > 0.75, right_cup


def test_litert_gives_tensorflows_top5_on_real_weights(lite):
    reference = lite["tf"]
    converted = infer.load_predictor(NAME, weights="imagenet", engine="litert", model=reference.model)
    assert converted.engine.id == "litert" and converted.engine.check["agree"], converted.engine.check
    assert not converted.engine.check["flat"]
    for name in samples.list_samples():
        image = samples.load_sample(name)
        a, b = reference.predict(image), converted.predict(image)
        assert [i for _, _, i in a.top5] == [i for _, _, i in b.top5], (name, a.top5, b.top5)
        exact = litert.exact_output(reference.model, reference.preprocess(image))
        atol = litert.tolerance(litert.gap_error(a.probs, exact), float(np.max(a.probs)))
        ok, reason, _ = litert.agree(a.probs, b.probs, atol=atol)
        assert ok, (name, reason)
        assert atol < 1e-2, f"{name}: tolerance {atol:.1e} too loose to mean anything"


def _digits(n_per_class: int = 40, side: int = 96):
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.concatenate([np.flatnonzero(d.target == c)[:n_per_class] for c in range(10)])
    images = np.stack([np.asarray(Image.fromarray((d.images[i] * 255 / 16).astype(np.uint8)).convert("RGB")
                                  .resize((side, side), Image.BILINEAR), np.float32) for i in keep])
    return images, d.target[keep]


def _features(weights, images) -> np.ndarray:
    base = zoo.create_model(NAME, weights=weights, include_top=False, input_shape=images.shape[1:])
    fmap = base.predict(zoo.preprocess_input(NAME, images.copy()), batch_size=50, verbose=0)
    return fmap.mean(axis=(1, 2))


def test_lite0_features_on_digits_and_what_a_random_base_does(lite):
    """400 of scikit-learn's digit scans (40 per class) at 96 px, the same standardized logistic
    regression on each base's pooled features, 5-fold cross-validation.

    Measured (this build, load ~11 on 2 cores): ImageNet features 0.88, random Lite0 features 0.95.
    The issue expected the trained features to win by a clear margin; on digits they do not: random
    ReLU6 convolutions with standardized features are a good random-feature map for 8×8 scans. So
    this test holds the trained features to a useful level and records that a random base is *not*
    at chance here (its features are informative, not degenerate), rather than claim a margin.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    images, y = _digits()
    scores = {}
    for weights in ("imagenet", None):
        f = _features(weights, images)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        scores[weights] = cross_val_score(clf, f, y, cv=5).mean()
    assert scores["imagenet"] >= 0.85, scores
    assert scores[None] >= 0.5, scores  # far above chance (0.10): a random base is not degenerate here
