"""Tables (markdown, CSV) and a bar chart of reproduction results."""

import datetime
import json
import warnings

import numpy as np
import pandas as pd

from ..estimator import ContrastivePatchRegressor
from .presets import BACKBONES, LITERAL_VARIANTS, PAPER_R2, VARIANTS

__all__ = ["results_frame", "summary_frame", "write_report", "markdown_report"]

_CSV_COLUMNS = ["dataset", "preset", "split", "model", "variant", "kind", "seed", "r2", "mae", "epochs", "seconds",
                "lr", "diverged", "blend", "partner", "n_train", "n_test", "params", "device", "torch", "sklearn",
                "hyperspectral_cl", "python"]


def results_frame(results):
    """One row per run (the raw CSV's rows)."""
    df = pd.DataFrame(results["runs"])
    df["dataset"] = results["dataset"]["dataset"]
    df["preset"] = results["preset"]["name"]
    df["params"] = [json.dumps(p, sort_keys=True) if isinstance(p, dict) else "" for p in df.get("params", [])]
    for column in ("blend", "partner"):  # per target: the network's share and its classical partner
        df[column] = [json.dumps(v) if isinstance(v, list) else "" for v in df.get(column, [None] * len(df))]
    return df.reindex(columns=_CSV_COLUMNS)


def summary_frame(results):
    """Mean and standard deviation over seeds per (split, model, variant)."""
    df = results_frame(results)
    grouped = df.groupby(["split", "kind", "model", "variant"], sort=False)
    out = grouped.agg(r2_mean=("r2", "mean"), r2_std=("r2", "std"), mae_mean=("mae", "mean"),
                      mae_std=("mae", "std"), seeds=("seed", "nunique"), seconds=("seconds", "mean"),
                      diverged=("diverged", lambda d: int(d.eq(True).sum())))
    return out.reset_index()


def _cell(mean, std, digits=3):
    if mean is None or np.isnan(mean):
        return "—"
    return f"{mean:.{digits}f} ± {0.0 if np.isnan(std) else std:.{digits}f}"


def _deep_table(summary, split, metric, backbones, variants, paper=None):
    sub = summary[(summary.split == split) & (summary.kind == "deep")].set_index(["model", "variant"])
    lines = ["| " + metric.upper().replace("R2", "R²") + " | " + " | ".join(backbones) + " |",
             "|---|" + "---:|" * len(backbones)]
    for v in variants:
        cells = []
        for b in backbones:
            row = sub.loc[(b, v)] if (b, v) in sub.index else None
            cell = "—" if row is None else _cell(row[f"{metric}_mean"], row[f"{metric}_std"])
            if row is not None and row["diverged"]:
                cell += f" ({row['diverged']} of {row['seeds']} diverged)"
            cells.append(cell)
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    contrastive = [v for v in variants if VARIANTS[v] is not None and v not in LITERAL_VARIANTS]
    if "baseline" in variants and contrastive:
        cells = []
        for b in backbones:
            if (b, "baseline") not in sub.index:
                cells.append("—")
                continue
            base = sub.loc[(b, "baseline"), f"{metric}_mean"]
            diffs = {v: sub.loc[(b, v), f"{metric}_mean"] - base for v in contrastive if (b, v) in sub.index}
            best = max(diffs, key=diffs.get) if metric == "r2" else min(diffs, key=diffs.get)
            cells.append(f"{diffs[best]:+.3f} ({best})")
        lines.append("| best contrastive − baseline | " + " | ".join(cells) + " |")
    if paper and metric == "r2":
        for v, values in paper.items():
            lines.append(f"| *paper: {v}* | " + " | ".join(f"*{values.get(b, float('nan')):.2f}*" for b in backbones)
                         + " |")
    return lines


def _provenance(runs):
    """When the report was written and the versions its runs recorded (cached runs may span several)."""
    fields = [("Python", "python"), ("torch", "torch"), ("scikit-learn", "sklearn"),
              ("hyperspectral_cl", "hyperspectral_cl")]
    seen = [(label, sorted({str(r[key]) for r in runs if r.get(key)})) for label, key in fields]
    return (f"Report written {datetime.date.today().isoformat()}; the runs recorded "
            + ", ".join(f"{label} {' / '.join(values)}" for label, values in seen if values) + ".")


def _blend_lines(runs, splits):
    """What the blend kept in the default-recipe runs: the network's share and how often the partner was RBF."""
    blended = [r for r in runs if r["kind"] == "deep" and r["variant"] not in LITERAL_VARIANTS
               and isinstance(r.get("blend"), list)]
    if not blended:
        return []
    lines = ["### What the blend kept (default-recipe runs)", "",
             "The network's share `w` of the prediction, per target, chosen on the validation windows (0: the "
             "classical partner alone), and the partner itself (ridge, or RBF kernel ridge where spatial "
             "cross-validation on the training windows preferred it).", "",
             "| split | backbone | runs | mean share `w` | runs with `w` = 0 on every target | targets with an RBF partner |",
             "|---|---|---:|---:|---:|---:|"]
    for split in splits:
        for model in dict.fromkeys(r["model"] for r in blended if r["split"] == split):
            sub = [r for r in blended if r["split"] == split and r["model"] == model]
            shares = np.concatenate([r["blend"] for r in sub])
            partners = [p for r in sub for p in (r.get("partner") or [])]
            rbf = f"{sum(p == 'rbf' for p in partners)} of {len(partners)}" if partners else "—"
            alone = sum(not np.any(r["blend"]) for r in sub)
            lines.append(f"| {split} | {model} | {len(sub)} | {shares.mean():.2f} | {alone} | {rbf} |")
    return lines + [""]


def markdown_report(results, *, title=None):
    """The results as markdown: the paper's layout per split, the classical rows and the settings."""
    summary = summary_frame(results)
    d, p = results["dataset"], results["preset"]
    runs = results["runs"]
    device = runs[0]["device"] if runs else "?"
    backbones = [b for b in BACKBONES if b in set(summary.model)] + sorted(
        set(summary[summary.kind == "deep"].model) - set(BACKBONES))
    variants = [v for v in VARIANTS if v in set(summary.variant)]
    splits = list(dict.fromkeys(summary.split))
    lines = [f"## {title or d['dataset'].capitalize()}: preset `{p['name']}`, {device}", "", _provenance(runs), ""]
    lines.append(
        f"{d['source']}; {d['shape'][0]} x {d['shape'][1]} pixels, {d['bands']} bands (binned from "
        f"{d['original_bands']}); targets: {', '.join(d['targets'])}. Windows {p['window']} x {p['window']} "
        f"(stride 1) labelled with their mean abundances; the networks see the whole window. "
        f"{p['n_train']} training windows per seed, {runs[0]['n_test'] if runs else '?'} test windows per split; "
        f"mean ± std over {p['seeds']} seeds (a seed draws the training windows and initialises the network; the "
        f"test windows are fixed). Rows without a prefix use the estimator's default recipe (AdamW with warm-up "
        f"and cosine decay, gradient clipping, at most {p.get('max_epochs') or 100} epochs with early stopping on a "
        f"spatial hold-out of the training windows, pooled map features, prediction blended on the validation "
        f"windows with ridge or, per target where spatial cross-validation prefers it, RBF kernel ridge on the mean "
        f"spectrum); *paper recipe* rows train as the paper and this package before 0.2 did: "
        f"{p['epochs']} epochs of SGD (momentum 0.9) at lr {p['lr']}, batch {p['batch_size']}, flattened maps, no "
        f"ridge, no early stopping. Per-pixel spectrum normalisation inside the networks: "
        f"{results.get('spectrum_norm') or 'none'} (then per-band standardisation)."
    )
    lines.append("")
    for split in splits:
        what = ("random split (test windows share pixels with training windows)" if split == "random"
                else "spatial split (one 2 x 2 block held out, half-window buffer: no shared pixels)")
        for metric in ("r2", "mae"):
            lines += [f"### {metric.upper().replace('R2', 'R²')}, {what}", ""]
            lines += _deep_table(summary, split, metric, backbones, variants, PAPER_R2.get(d["dataset"]))
            lines.append("")
    classical = summary[summary.kind == "classical"]
    if len(classical):
        lines += ["### Classical regressors on the same windows (tuned by the same inner CV)", ""]
        header = "| model | " + " | ".join(f"R² {s} | MAE {s}" for s in splits) + " |"
        lines += [header, "|---|" + "---:|---:|" * len(splits)]
        for name in dict.fromkeys(classical.model):
            cells = []
            for s in splits:
                row = classical[(classical.model == name) & (classical.split == s)]
                cells += ["—", "—"] if row.empty else [_cell(row.r2_mean.iloc[0], row.r2_std.iloc[0]),
                                                       _cell(row.mae_mean.iloc[0], row.mae_std.iloc[0], 4)]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += ["### Best of each kind", ""]
        for s in splits:
            sub = summary[summary.split == s]
            best = {k: sub[sub.kind == k].sort_values("r2_mean", ascending=False).head(1) for k in ("deep", "classical")}
            parts = [f"{k}: {r.model.iloc[0]}{'' if k == 'classical' else ' ' + r.variant.iloc[0]} "
                     f"R² {r.r2_mean.iloc[0]:.3f}" for k, r in best.items() if len(r)]
            lines.append(f"- {s} split: " + "; ".join(parts))
        lines.append("")
    lines += _blend_lines(runs, splits)
    default_lr = ContrastivePatchRegressor().lr
    slower = [r for r in runs if r["kind"] == "deep" and r.get("lr") is not None
              and r["lr"] < (p["lr"] if r["variant"] in LITERAL_VARIANTS else default_lr)]
    if slower:
        which = sorted({(r["model"], r["variant"], r["split"], f"{r['lr']:.2g}") for r in slower})
        lines += ["Runs whose loss diverged and were restarted with a smaller lr: "
                  + "; ".join(f"{m} {v} ({s} split, lr {lr})" for m, v, s, lr in which) + ".", ""]
    if results.get("searches"):
        lines += ["### Chosen contrastive settings (GridSearchCV, inner CV on seed 0's training windows, "
                  "spectral+spatial variant)", "",
                  f"Search space: alpha {list(p['alphas'])}; radius at the {list(p['radius_quantiles'])} quantiles "
                  f"of the training targets' pairwise distances; temperature {list(p['temperatures'])}; "
                  f"{p['inner_folds']}-fold inner CV (spatial blocks for the spatial split).", "",
                  "| split | backbone | alpha | radius | temperature | lr | inner-CV R² |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for s in results["searches"]:
            b = s["best"]
            score = max(t["mean_r2"] for t in s["table"] if not np.isnan(t["mean_r2"])) if any(
                not np.isnan(t["mean_r2"]) for t in s["table"]) else float("nan")
            lines.append(f"| {s['split']} | {s['backbone']} | {b['alpha']:g} | {b['radius']:.4f} | "
                         f"{b['temperature']:g} | {s.get('lr', p['lr']):.2g} | {score:.3f} |")
        lines.append("")
    return "\n".join(lines)


def plot_results(results, path):
    """Bar chart: R² per backbone and variant, one panel per split, best classical as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summary_frame(results)
    splits = list(dict.fromkeys(summary.split))
    backbones = [b for b in BACKBONES if b in set(summary.model)]
    variants = [v for v in VARIANTS if v in set(summary.variant)]
    fig, axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 4.6), squeeze=False)
    width = 0.8 / max(1, len(variants))
    for ax, split in zip(axes[0], splits, strict=True):
        sub = summary[summary.split == split].set_index(["model", "variant"])
        classical = summary[(summary.split == split) & (summary.kind == "classical")]
        best = classical.sort_values("r2_mean", ascending=False).iloc[0] if len(classical) else None
        # each panel gets its own axis, zoomed on its bars (a random split's bars all sit near 1), clipped
        # at -0.5 so that a run that failed badly (R² of -8) does not squash the others; its value is printed
        deep = sub[sub.kind == "deep"]
        values = np.concatenate([deep.r2_mean - deep.r2_std.fillna(0), [] if best is None else [best.r2_mean]])
        top = float(min(1.0, np.nanmax(np.concatenate([deep.r2_mean + deep.r2_std.fillna(0), values]))))
        bottom = max(-0.5, float(np.nanmin(values)))
        pad = max(0.01, 0.08 * (top - bottom))
        bottom, top = max(-0.5, bottom - pad), min(1.0 + pad, top + pad)
        for i, v in enumerate(variants):
            x = np.arange(len(backbones)) + (i - (len(variants) - 1) / 2) * width
            means = np.array([sub.loc[(b, v), "r2_mean"] if (b, v) in sub.index else np.nan for b in backbones])
            stds = np.array([sub.loc[(b, v), "r2_std"] if (b, v) in sub.index else np.nan for b in backbones])
            clipped = means < bottom
            # a clipped bar's error bar would cover its label: the label carries the spread instead
            ax.bar(x, means - bottom, width, bottom=bottom, yerr=np.where(clipped, np.nan, stds),
                   label=v if ax is axes[0][0] else None, capsize=2)
            for xi, m, sd in zip(x[clipped], means[clipped], stds[clipped], strict=True):
                ax.annotate(f"{m:.2f} ± {np.nan_to_num(sd):.2f}", (xi, bottom), xytext=(0, 3),
                            textcoords="offset points", rotation=90, ha="center", va="bottom", fontsize=7)
        if best is not None:  # each panel names its own best classical row (they differ between splits)
            ax.axhline(best.r2_mean, color="k", ls="--", lw=1,
                       label="best classical row of the panel" if ax is axes[0][0] else None)
            # under the axis, where no bar or clipped-bar label can hide it
            ax.set_xlabel(f"dashed: best classical, {best.model} ({best.r2_mean:.3f})", fontsize=8)
        ax.set_xticks(np.arange(len(backbones)), backbones)
        ax.set_title(f"{results['dataset']['dataset']}, {split} split")
        ax.set_ylim(bottom, top)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("R² (mean ± std over seeds)")
    fig.legend(loc="lower center", ncol=min(4, len(variants) + 1), fontsize=8, frameon=False)
    fig.suptitle(f"preset {results['preset']['name']}")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results, out_dir, *, stem=None, plot=True):
    """Write ``<stem>.md``, ``<stem>.csv`` and (with matplotlib) ``<stem>.png``; return their paths.

    Without matplotlib the PNG is skipped with a UserWarning that says how to get it.
    """
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or f"reproduce_{results['dataset']['dataset']}_{results['preset']['name']}"
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.csv"]
    paths[0].write_text(markdown_report(results) + "\n")
    results_frame(results).to_csv(paths[1], index=False)
    if plot:
        try:
            plot_results(results, out_dir / f"{stem}.png")
            paths.append(out_dir / f"{stem}.png")
        except ImportError:  # the tables are the result; the figure is an extra, but never dropped silently
            warnings.warn(f"matplotlib is not installed, so {stem}.png was not written (the tables were): "
                          "pip install matplotlib, or hyperspectral-cl[plot], and run the same command again "
                          "(finished tasks come from the cache)", UserWarning, stacklevel=2)
    return paths
