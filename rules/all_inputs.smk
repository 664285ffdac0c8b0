# The final outputs of this configuration (rule all in the Snakefile).


def all_outputs():
    """Every final output of this configuration."""
    outputs = [
        probe_dir(),
        results("ground_truth/neurons.parquet"),
        results("ground_truth/neurons.csv"),
    ]
    if WORLD_PROBE:
        outputs += [
            results("world/sample_grid.png"),
            results("concepts/world.txt"),
            results("concepts/world_hierarchy.tsv"),
        ]
    for concepts in config["concept_sets"]:
        if METHODS:
            outputs.append(results(f"metrics/{concepts}/table1.csv"))
            outputs.append(results(f"metrics/{concepts}/table1.json"))
            outputs += [
                results(f"evidence/{concepts}/{name}")
                for name in ("table.parquet", "summary.csv", "check.csv")
            ]
        if config.get("ablation"):
            outputs.append(results(f"metrics/{concepts}/ablation.csv"))
    if METHODS and config.get("ablation"):
        outputs += [results("metrics/claims.csv"), results("metrics/claims.json")]
    if WORLD_MODELS["source"] == "train":
        outputs.append(results("models/quality.json"))
    outputs += stability_outputs() + convis_outputs()
    if METHODS:
        outputs += [results("report.html"), results("report.pdf")]
        outputs.append(results("report/explorer"))
    return outputs
