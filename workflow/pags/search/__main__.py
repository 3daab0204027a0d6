"""``python -m pags.search CONFIG --dataset D``: one search round on a finished run's
tables, printed per objective (the turns found and the strengths to add). Kept apart from
the package so that the jobs, which import ``pags.search``, never import the config
validation (and with it Snakemake)."""

import argparse
import sys

import pandas as pd

from .. import paths
from ..grid import format_strength
from . import metric_rows, next_strengths, search_curve, turns


def main(argv: list[str] | None = None) -> None:
    import yaml

    from ..config import validated_config
    from ..plan import Plan

    parser = argparse.ArgumentParser(prog="python -m pags.search", description=__doc__.splitlines()[0].strip("`"))
    parser.add_argument("config", help="the config the run used")
    parser.add_argument("--dataset", required=True, help="a sweep's data set (sweep.<dataset>)")
    parser.add_argument("--factor", type=float, default=2.0, help="bracket each turn to this ratio of strengths")
    parser.add_argument("--extend", type=float, default=10.0, help="look this factor beyond an end")
    parser.add_argument("--max-models", type=int, default=12, help="strengths per objective at most")
    args = parser.parse_args(argv)
    with open(args.config) as f:
        config = yaml.safe_load(f)
    plan = Plan(validated_config(config))
    exp, settings = plan.experiment(args.dataset), plan.search_settings(args.dataset)
    models = metric_rows(
        pd.read_csv(paths.table_file(args.dataset, "alignment")),
        pd.read_csv(paths.table_file(args.dataset, "manifold_robustness")),
        **{k: settings.pop(k) for k in ("score", "metric", "plot_step")},
    )
    for objective in [o for o in exp["objectives"] if o != "standard"]:
        curve, reference = search_curve(models, objective)
        if curve.empty:
            print(f"{objective}: not in the run's tables")
            continue
        found = turns(curve, reference, **settings)
        new = next_strengths(
            curve, reference, factor=args.factor, extend=args.extend, max_models=args.max_models, **settings
        )
        print(f"{objective}: {len(curve)} strengths tried")
        for turn in found:
            where = " .. ".join("" if v is None else format_strength(v) for v in (turn.lo, turn.hi))
            print(f"  {turn.kind}: {where}{'' if turn.bracketed(args.factor) else ' (not bracketed)'}")
        grid = sorted({*curve["strength_value"], *new})
        added = ", ".join(map(format_strength, new)) or "nothing"
        print(f"  add {added}; grid: [{', '.join(map(format_strength, grid))}]")


if __name__ == "__main__":
    main(sys.argv[1:])
