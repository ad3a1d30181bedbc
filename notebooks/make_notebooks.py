"""Generate the notebooks (sources only); execute them with ``python notebooks/make_notebooks.py --execute``.

The notebooks are committed with outputs. To refresh them after a change:

    python notebooks/make_notebooks.py --execute            # STEPS from each notebook (modest)
    DDC_TF_NOTEBOOK_STEPS=20 python notebooks/make_notebooks.py --execute   # quick check
    python notebooks/make_notebooks.py --export-figures docs/figures   # README pictures from 03
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''import os, tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
from IPython.display import Image, display

# Training budget (mini-batches). The test suite overrides it with DDC_TF_NOTEBOOK_STEPS.
STEPS = int(os.environ.get("DDC_TF_NOTEBOOK_STEPS", "{steps}"))
FIGURES = Path(tempfile.mkdtemp(prefix="ddc_tf_figures_"))  # PNGs are written here, shown inline
print("STEPS =", STEPS)'''


def quickstart() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# DDC quickstart: cluster the digits\n\n"
            "Train Deep Divergence-based Clustering (Kampffmeyer et al. 2019) on scikit-learn's 8×8 "
            "handwritten digits (offline), score it against the labels it never saw, compare with "
            "k-means, and draw the paper's figures. About 3 minutes on a 2-core CPU; set "
            "`STEPS` and `RUNS` (or the environment variables `DDC_TF_NOTEBOOK_STEPS`, `DDC_TF_NOTEBOOK_RUNS`) "
            "to change the budget.\n\n"
            "The same from the shell:\n\n"
            "```\nddc-tf fit --data digits --steps 1500 --runs 10 --neighbors 0 --refine-runs 0 --distill-steps 0 --kmeans --log-curves 100\n"
            "ddc-tf plot --model outputs/digits --data digits --curves outputs/digits/curves/seed_S.csv --out outputs/digits/figures\n```\n"
            "(`S`: the chosen run's seed, printed by `fit`)"
        ),
        new_code_cell(SETUP.format(steps=1500)),
        new_markdown_cell("## Data\n`load_arrays` returns an `ArrayData`: the inputs `x` scaled to [0, 1], the labels `y` (used only for scoring), and `image_shape` for drawing."),
        new_code_cell('from ddc_tf.data import load_arrays\n\ndigits = load_arrays("digits")\nprint(digits, digits.x.shape, digits.image_shape)'),
        new_markdown_cell(
            "## Train\n"
            "The project's protocol on the paper's loss: `RUNS` independent runs of the paper's fully "
            "connected network (`mlp`), `STEPS` mini-batches of 100 each. (`ddc-tf fit` adds by default a "
            "neighbour term, 3 refined runs and a distilled saved model — README, \"Beating k-means\", items "
            "7–10; the shell command above turns them off to match this notebook, which keeps the paper's "
            "three terms for Fig. 9a.) No labels are used to choose: the "
            "**consensus** selector reports the run whose clusters agree most with the other runs', "
            "**DDC-VOTE** votes over the better half of the runs and **DDC-ENSEMBLE** clusters the points by "
            "how many runs put them together. A single short run can land in a poor local optimum; several "
            "runs and a label-free choice are what make DDC beat k-means on digits (README, \"Beating k-means\"). "
            "The `TrainingCurves` callback logs the loss, its three terms and ACC during every run (Fig. 9a)."
        ),
        new_code_cell(
            "from ddc_tf.callbacks import TrainingCurves\n"
            "from ddc_tf.experiments.protocol import run_protocol\n"
            "from ddc_tf.experiments.training import TrainConfig\n\n"
            "RUNS = int(os.environ.get(\"DDC_TF_NOTEBOOK_RUNS\", \"10\"))\n"
            "config = TrainConfig(n_clusters=10, backbone=\"mlp\", steps=STEPS, batch_size=100)\n\n"
            "def curves_for(seed):\n"
            "    return [TrainingCurves(digits.x, digits.y, every=max(10, STEPS // 15), subset=1000,\n"
            "                           csv_path=FIGURES / f\"curves_seed_{seed}.csv\")]\n\n"
            "results, model = run_protocol(digits, config, runs=RUNS, out_dir=FIGURES / \"protocol\", verbose=0,\n"
            "                              progress=True, callbacks_for=curves_for)\n"
            "chosen = results[\"best\"][\"seed\"]\n"
            "print(\"chosen run (consensus selector): seed\", chosen)"
        ),
        new_markdown_cell("## Score\nACC (best one-to-one match of clusters to classes) and NMI of every run, of the chosen run, of DDC-VOTE and DDC-ENSEMBLE, against k-means++ (best of 20 restarts) on the raw pixels. The labels are used here only to report."),
        new_code_cell(
            "from ddc_tf.baselines import kmeans_baseline\n"
            "from ddc_tf.experiments.tables import format_results_table\n"
            "from ddc_tf.experiments.training import predict_assignments\n\n"
            "km = kmeans_baseline(digits.x, digits.y, 10)\n"
            "print(format_results_table(results, km))\n"
            "best = max(results[\"best\"][\"acc\"], (results[\"ensemble\"] or {}).get(\"acc\") or 0)\n"
            "print(f\"\\nDDC {'beats' if best > km['acc'] else 'does not beat'} k-means++ here: \"\n"
            "      f\"{best:.3f} vs {km['acc']:.3f} ACC (chosen run or DDC-ENSEMBLE)\")\n"
            "probabilities = predict_assignments(model, digits)"
        ),
        new_markdown_cell("## Figures\nThe ten most confident digits of every cluster (the paper's Figs. 6–8; a red frame marks a digit whose class differs from the cluster's majority class)."),
        new_code_cell(
            "from ddc_tf.viz import plots\n\n"
            "display(Image(filename=plots.plot_top_images(digits.x, probabilities, FIGURES / \"top.png\",\n"
            "                                               image_shape=digits.image_shape, labels=digits.y)))"
        ),
        new_markdown_cell("The loss terms and ACC during training of the **chosen** run, each rescaled to [0, 1] (Fig. 9a; the legend gives each curve's range): the unsupervised loss falls as the accuracy rises."),
        new_code_cell("display(Image(filename=plots.plot_training_curves(FIGURES / f\"curves_seed_{chosen}.csv\", FIGURES / \"curves.png\")))"),
        new_markdown_cell("The Gaussian kernel on the hidden representation, points sorted by true class (Fig. 10): dark blocks on the diagonal are classes the network keeps together."),
        new_code_cell(
            "hidden = model.embed(digits.x).numpy()\n"
            "display(Image(filename=plots.plot_kernel_matrix(hidden, digits.y, FIGURES / \"kernel.png\", max_points=600,\n"
            "                                                  sort_label=\"true class\")))"
        ),
        new_markdown_cell("More: `02_guided_backprop.ipynb` (what the network looks at) and `03_paper_figures.ipynb` (all the paper's figures, including circles and the output simplex)."),
    ]
    return new_notebook(cells=cells)


def guided() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Guided backpropagation: what makes a digit belong to its cluster?\n\n"
            "Guided backpropagation (Springenberg et al. 2014) is the paper's Fig. 11. It takes the gradient of "
            "one cluster's **pre-softmax score** with respect to the input pixels, but lets a gradient pass a ReLU only "
            "where the ReLU's input was positive *and* the gradient itself is positive. What is left are the pixels that "
            "push the image towards the cluster.\n\n"
            "`ddc_tf.viz.GuidedBackprop` builds a copy of the trained model whose ReLUs use this rule "
            "(`tf.custom_gradient`); the model itself is untouched. It works for the conv and the mlp networks.\n\n"
            "From the shell, `ddc-tf plot --model MODEL --data digits --out DIR` writes this figure as `fig11_guided_backprop.png`."
        ),
        new_code_cell(SETUP.format(steps=1500)),
        new_code_cell(
            "from ddc_tf.data import load_arrays\n"
            "from ddc_tf.evaluation import cluster_metrics\n"
            "from ddc_tf.experiments.training import TrainConfig, predict_assignments, train_run\n\n"
            "digits = load_arrays(\"digits\")\n"
            "model, _ = train_run(digits, TrainConfig(n_clusters=10, backbone=\"mlp\", steps=STEPS), seed=0, verbose=0)\n"
            "clusters = predict_assignments(model, digits).argmax(axis=1)\n"
            "print(cluster_metrics(digits.y, clusters))"
        ),
        new_markdown_cell("## Saliency of each digit's own cluster\nThe most confident digit of each cluster; the top row is the input, the bottom row the positive guided gradient in red."),
        new_code_cell(
            "from ddc_tf.viz import GuidedBackprop, plain_gradients\n"
            "from ddc_tf.viz import plots\n"
            "from ddc_tf.viz.figures import most_confident\n\n"
            "pick = most_confident(model.predict(digits.x, verbose=0), 10)  # each cluster's most confident digit\n"
            "x = digits.x[pick]\n"
            "explainer = GuidedBackprop(model)\n"
            "saliency, explained = explainer.saliency(x)          # w.r.t. each digit's most probable cluster\n"
            "display(Image(filename=plots.plot_guided_backprop(x, saliency, FIGURES / \"guided.png\",\n"
            "                                                    clusters=explained, image_shape=digits.image_shape)))"
        ),
        new_markdown_cell("## Guided vs plain gradients\nThe plain gradient lets negative signals flow back through every ReLU; guided backprop stops them, so only paths that raise the score contribute. (At the input of the mlp the first layer's weights can still make some pixels negative; the figure draws the positive part.) The forward pass of the guided copy is exactly the model's:"),
        new_code_cell(
            "plain, _ = plain_gradients(model, x)\n"
            "same = np.allclose(explainer.guided(x.shape[1:])(x).numpy(), model(x).numpy(), atol=1e-6)\n"
            "print(\"guided copy predicts exactly like the model:\", same)\n"
            "corr = np.corrcoef(plain.ravel(), saliency.ravel())[0, 1]\n"
            "print(f\"correlation of plain and guided maps: {corr:.2f} (1 would mean guiding changed nothing)\")\n"
            "display(Image(filename=plots.plot_guided_backprop(x, plain, FIGURES / \"plain.png\",\n"
            "                                                    clusters=explained, image_shape=digits.image_shape)))"
        ),
        new_markdown_cell("## One digit, every cluster\nThe same digit explained for each of the ten clusters: which strokes would make it a member of each."),
        new_code_cell(
            "one = np.repeat(x[:1], 10, axis=0)\n"
            "per_cluster, ks = explainer.saliency(one, clusters=np.arange(10))\n"
            "display(Image(filename=plots.plot_guided_backprop(one, per_cluster, FIGURES / \"per_cluster.png\",\n"
            "                                                    clusters=ks, image_shape=digits.image_shape)))"
        ),
    ]
    return new_notebook(cells=cells)


def paper() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# The paper's figures, reproduced on offline data\n\n"
            "Kampffmeyer et al. (2019), *Deep Divergence-based Clustering*, Figs. 3, 4, 6–11 — on the synthetic "
            "circles and scikit-learn's 8×8 digits instead of MNIST/SEALS, so everything runs offline in a few minutes. "
            "Each figure is one function of `ddc_tf.viz.plots`; `ddc-tf plot` writes all that apply to a trained model.\n\n"
            "```\nddc-tf fit --data circles --steps 1500 --out outputs/circles\n"
            "ddc-tf plot --model outputs/circles --data circles --out outputs/circles/figures\n```"
        ),
        new_code_cell(SETUP.format(steps=1500)),
        new_code_cell(
            "import dataclasses\n\n"
            "from ddc_tf.baselines import kmeans\n"
            "from ddc_tf.callbacks import TrainingCurves\n"
            "from ddc_tf.data import load_arrays\n"
            "from ddc_tf.data.pipeline import to_dataset\n"
            "from ddc_tf.evaluation import cluster_metrics\n"
            "from ddc_tf.experiments.training import TrainConfig, build_model, predict_assignments, train_run\n"
            "from ddc_tf.viz import GuidedBackprop, plots"
        ),
        new_markdown_cell("## Fig. 3 — non-convex clusters: k-means vs DDC\nA small circle inside a ring. k-means can only cut the plane with a straight line; DDC's kernel-based loss follows the rings."),
        new_code_cell(
            "circles = load_arrays(\"circles\")\n"
            "model_c, _ = train_run(circles, TrainConfig(n_clusters=2, backbone=\"mlp\", steps=STEPS), seed=0, verbose=0)\n"
            "ddc_c = predict_assignments(model_c, circles).argmax(axis=1)\n"
            "km_c = kmeans(circles.x, 2)\n"
            "print(\"ACC  k-means %.3f   DDC %.3f\" % (cluster_metrics(circles.y, km_c)[\"acc\"], cluster_metrics(circles.y, ddc_c)[\"acc\"]))\n"
            "display(Image(filename=plots.plot_circles(circles.x, km_c, ddc_c, FIGURES / \"fig3.png\", labels=circles.y)))"
        ),
        new_markdown_cell("## Fig. 4 — the output space of three clusters\nThree digit classes (0, 1, 2); each point is a softmax output placed in the triangle whose corners are the one-hot vectors. At the start the points sit near the centre; training pushes them to the corners (each corner names its cluster, how many points it holds and the shares of its largest classes)."),
        new_code_cell(
            "digits = load_arrays(\"digits\")\n"
            "keep = np.isin(digits.y, [0, 1, 2])\n"
            "three = dataclasses.replace(digits, x=digits.x[keep], y=digits.y[keep], name=\"digits 0/1/2\")\n"
            "import keras\n"
            "keras.utils.set_random_seed(0)\n"
            "model_3 = build_model(TrainConfig(n_clusters=3, backbone=\"mlp\"), three)\n"
            "stream = to_dataset(three, batch_size=100, shuffle=True, seed=0, drop_remainder=True, with_labels=False, repeat=True)\n"
            "stages, done = {}, 0\n"
            "for target in (0, max(1, STEPS // 50), STEPS):\n"
            "    if target > done:\n"
            "        model_3.fit(stream, epochs=1, steps_per_epoch=target - done, verbose=0)\n"
            "        done = target\n"
            "    stages[f\"after {done} steps\"] = predict_assignments(model_3, three)\n"
            "display(Image(filename=plots.plot_simplex(stages, FIGURES / \"fig4.png\", labels=three.y)))"
        ),
        new_markdown_cell("## Figs. 6–8 — the most confident members of each cluster (10 clusters)\nWith training curves logged along the way for Fig. 9a."),
        new_code_cell(
            "curves = TrainingCurves(digits.x, digits.y, every=max(10, STEPS // 15), subset=1000, csv_path=FIGURES / \"curves.csv\")\n"
            "model, _ = train_run(digits, TrainConfig(n_clusters=10, backbone=\"mlp\", steps=STEPS), seed=0, verbose=0,\n"
            "                     callbacks=[curves])\n"
            "probabilities = predict_assignments(model, digits)\n"
            "print(cluster_metrics(digits.y, probabilities.argmax(axis=1)))\n"
            "display(Image(filename=plots.plot_top_images(digits.x, probabilities, FIGURES / \"fig6_8.png\",\n"
            "                                               image_shape=digits.image_shape, labels=digits.y)))"
        ),
        new_markdown_cell("## Fig. 9a — loss terms against accuracy during training\nEach curve rescaled to [0, 1]; the legend gives the original range. The unsupervised loss and its terms fall as ACC (computed with the labels, for reporting only) rises."),
        new_code_cell("display(Image(filename=plots.plot_training_curves(FIGURES / \"curves.csv\", FIGURES / \"fig9a.png\")))"),
        new_markdown_cell("## Fig. 10 — kernel matrix on the hidden layer\nPoints sorted by true class, as in the paper: dark = similar. Blocks on the diagonal are classes the hidden representation keeps together; off-diagonal grey shows classes it confuses."),
        new_code_cell(
            "hidden = model.embed(digits.x).numpy()\n"
            "display(Image(filename=plots.plot_kernel_matrix(hidden, digits.y, FIGURES / \"fig10.png\", max_points=600,\n"
            "                                                  rel_sigma=model.rel_sigma, sigma_mode=model.sigma_mode,\n"
            "                                                  sort_label=\"true class\")))"
        ),
        new_markdown_cell("## Fig. 11 — guided backpropagation\nPixels that raise each digit's own cluster score, in red (see `02_guided_backprop.ipynb`)."),
        new_code_cell(
            "from ddc_tf.viz.figures import most_confident\n"
            "pick = most_confident(model.predict(digits.x, verbose=0), 10)  # each cluster's most confident digit\n"
            "saliency, explained = GuidedBackprop(model).saliency(digits.x[pick])\n"
            "display(Image(filename=plots.plot_guided_backprop(digits.x[pick], saliency, FIGURES / \"fig11.png\",\n"
            "                                                    clusters=explained, image_shape=digits.image_shape)))"
        ),
    ]
    return new_notebook(cells=cells)


#: Figures of 03_paper_figures.ipynb, in order of appearance, and their file names.
FIGURE_NAMES = ("fig3_circles_kmeans_vs_ddc.png", "fig4_output_simplex.png", "fig6-8_top_images_per_cluster.png",
                 "fig9a_training_curves.png", "fig10_kernel_matrix.png", "fig11_guided_backprop.png")


def export_figures(out: Path) -> int:
    import base64

    nb = nbformat.read(HERE / "03_paper_figures.ipynb", as_version=4)
    pngs = [o["data"]["image/png"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    if len(pngs) != len(FIGURE_NAMES):
        print(f"expected {len(FIGURE_NAMES)} figures in 03_paper_figures.ipynb, found {len(pngs)}: execute it first",
              file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for name, data in zip(FIGURE_NAMES, pngs):
        (out / name).write_bytes(base64.b64decode(data))
        print(out / name, (out / name).stat().st_size, "bytes")
    return 0


NOTEBOOKS = {"01_quickstart.ipynb": quickstart, "02_guided_backprop.ipynb": guided, "03_paper_figures.ipynb": paper}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--execute", action="store_true", help="run each notebook and store its outputs")
    parser.add_argument("--export-figures", metavar="DIR", default=None,
                        help="only write the figures shown in the executed 03_paper_figures.ipynb to DIR as PNG")
    parser.add_argument("names", nargs="*", help="only these notebooks")
    args = parser.parse_args(argv)
    if args.export_figures:
        return export_figures(Path(args.export_figures))
    for name, build in NOTEBOOKS.items():
        if args.names and name not in args.names:
            continue
        nb = build()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        if args.execute:
            from nbclient import NotebookClient

            NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
        nbformat.write(nb, HERE / name)
        print(name, (HERE / name).stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
