# Input functions of the metrics (rules/metrics.smk).


def ground_truth_text_sources():
    """What the texts a ground-truth table can name are read from, before the table
    exists: nothing for the planted ground truth (the world's vocabulary), else the
    class-names file or, without one, the target's class names (activations/target.json).
    """
    if PLANTED_GROUND_TRUTH:
        return []
    return class_names_file() or [results("activations/target.json")]


def imported_files(wildcards):
    return [results(f"imported/{name}.parquet") for name in config["imported"]]


def all_description_files(wildcards):
    return [
        f for method in METHODS for f in description_files(wildcards.concepts, method)
    ]


def metric_clip_checkpoint_files(wildcards):
    """Checkpoint files of the metric CLIP (tracked as inputs); [] for hub tags."""
    return clip_checkpoint_files_of(config["metrics"]["clip_model"])
