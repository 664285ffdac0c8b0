# Input functions of ConVis (rules/convis.smk).


def hierarchy_file():
    """The concept hierarchy whose nodes ConVis ranks."""
    return results(f"concepts/{CONVIS['hierarchy']}_hierarchy.tsv")


def convis_clip_checkpoint_files(wildcards):
    return clip_checkpoint_files_of(CONVIS["clip_model"])


def convis_outputs():
    """The localisation table needs the world's object boxes: world probe sets only."""
    if not WORLD_PROBE:
        return []
    return [results("convis/localisation.csv"), results("convis/localisation.json")]
