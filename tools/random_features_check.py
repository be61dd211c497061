"""Are random-base features degenerate, or is the homework pipeline at fault? (issue 20, "Also find out")

Run: ``CNNVIZ_OFFLINE=1 python tools/random_features_check.py`` (about 3 minutes on 2 cores).

For each homework model with random weights (as `homework --random-weights` builds it) and for
Lite0 (ImageNet weights from the install): the frozen features of the demo dataset (digits 0-4,
the homework split), their spread across images, and what two independent classifiers make of
them: the homework's own Keras head (2 epochs, as the issue ran, then 50) and scikit-learn's
logistic regression on standardized features (an upper bound of what a linear head can get).

Measured (2-core AVX-512 machine, 60 train / 20 test demo images): logistic regression 0.95 on
every random base (1.00 on Lite0), so the features are not degenerate; but the random
EfficientNetB0's and MobileNetV3Small's features are ~1e-5 and ~1e-10 in size (BatchNorm with
fresh statistics does not normalize, so activations shrink layer after layer) and the head's few
Adam steps cannot use them: 0.20 (chance) after 2 epochs for all four random bases.
"""
import json, sys
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from cnnviz import HOMEWORK_MODELS
from cnnviz.homework import sample, transfer
from cnnviz.homework.transfer import input_size, to_array
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

ds = sample.load_sample()
parts = ds.split(0)
labels = {p: ds.labels[idx] for p, idx in parts.items()}
rows = []
for name in (*HOMEWORK_MODELS, "efficientnetlite0"):
    size = input_size(name, None)
    arrays = {p: np.stack([to_array(ds.items[i], size) for i in idx]) for p, idx in parts.items()}
    random = name != "efficientnetlite0"
    base = transfer.build_base(name, random, tuple(arrays["train"].shape[1:3]))
    base.trainable = False
    feats = {p: transfer.forward(base, a, name) for p, a in arrays.items()}
    f = feats["train"].reshape(len(feats["train"]), -1).astype(np.float64)
    norms = np.linalg.norm(f, axis=1)
    unit = f / np.maximum(norms[:, None], 1e-30)
    cos = unit @ unit.T
    off = cos[~np.eye(len(cos), dtype=bool)]
    spread = float(np.mean(np.std(f, axis=0)) / max(np.mean(np.abs(f)), 1e-30))
    sc = StandardScaler().fit(f)
    lr = LogisticRegression(max_iter=5000).fit(sc.transform(f), labels["train"])
    ftest = feats["test"].reshape(len(feats["test"]), -1)
    lr_acc = float(lr.score(sc.transform(ftest), labels["test"]))
    # the homework's own head, 2 epochs (what the issue ran), on the same cached features
    head = transfer.build_head(tuple(base.output_shape[1:]), len(ds.class_names), seed=0, name=f"{name}_head")
    head.compile(optimizer=__import__("keras").optimizers.Adam(transfer.FE_LEARNING_RATE),
                 loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    head.fit(feats["train"], labels["train"], epochs=2, batch_size=transfer.BATCH_SIZE, verbose=0)
    head_acc = float(head.evaluate(feats["test"], labels["test"], verbose=0)[1])
    head.fit(feats["train"], labels["train"], epochs=48, batch_size=transfer.BATCH_SIZE, verbose=0)
    head_acc50 = float(head.evaluate(feats["test"], labels["test"], verbose=0)[1])
    r = {"model": name, "weights": "random" if random else "imagenet (installed)", "dim": int(f.shape[1]),
         "feature_abs_mean": float(np.mean(np.abs(f))), "spread_across_images": spread,
         "mean_cosine_between_images": float(off.mean()), "min_cosine": float(off.min()),
         "distinct_rows": int(len(np.unique(np.round(unit, 6), axis=0))),
         "logreg_test_acc": lr_acc, "head_2ep_test_acc": head_acc, "head_50ep_test_acc": head_acc50,
         "n_train": int(len(f)), "n_test": int(len(ftest))}
    rows.append(r)
    print(json.dumps(r), flush=True)
if "--json" in sys.argv:
    print(json.dumps(rows, indent=1))
