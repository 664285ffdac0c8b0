# Input functions and params of the requirements check (rules/probes.smk).


def requirements_config():
    """The parts of the config that the requirements check reads (its params): a change
    elsewhere (a stride, a report setting) does not re-run it.  That also keeps most config
    changes clear of snakemake/snakemake#4166, where the re-run of an ancient() input's job
    holds back the other jobs a change affects until the next call."""
    keep = ("run", "target", "probe", "clip_models", "metrics", "concept_sets")
    return {
        **{key: config[key] for key in keep},
        "concept_downloads": config["concept_downloads"],
        # which CLIP models the methods use, not which methods there are
        "methods": {
            f"uses_{clip}": {"clip_model": clip}
            for clip in sorted(
                {m.get("clip_model", "world") for m in config["methods"].values()}
            )
        },
        "stability": {"clip_model": STABILITY["clip_model"]},
        "convis": {
            "clip_model": CONVIS["clip_model"],
            "hierarchy": CONVIS["hierarchy"],
        },
    }
