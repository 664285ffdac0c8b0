# Input functions and params of the report (rules/report.smk).


def report_description_files(wildcards):
    """Every method's descriptions (the table of all descriptions; the neuron grids show
    the grid methods'), in the config's order."""
    wanted = [*METHODS, *REPORT_GRID_METHODS.values(), REPORT_METHOD]
    methods = [m for m in dict.fromkeys(wanted) if m]
    return [
        f
        for concepts in config["concept_sets"]
        for m in methods
        for f in description_files(concepts, m)
    ]


def report_view_of(method):
    return METHODS[method]["view"]


def report_topk_files(wildcards):
    """Top-k sets of the views whose top images the grids show."""
    views = ["center", "gradcam", report_view_of(REPORT_METHOD)]
    return [
        results(f"topk/{view}/{layer}.npz")
        for view in dict.fromkeys(views)
        for layer in REPORT_LAYERS
    ]


def report_neuron_files(wildcards):
    return {
        "per_neuron": results(f"metrics/{REPORT_CONCEPT_SET}/per_neuron.parquet"),
        "evidence": results(f"evidence/{REPORT_CONCEPT_SET}/table.parquet"),
        "descriptions": [
            results(
                f"descriptions/{REPORT_CONCEPT_SET}/{REPORT_METHOD}/{layer}.parquet"
            )
            for layer in REPORT_LAYERS
        ],
        "topk": [
            results(f"topk/{report_view_of(REPORT_METHOD)}/{layer}.npz")
            for layer in REPORT_LAYERS
        ],
    }


def report_inputs(wildcards):
    """Every file the report reads; sections without inputs are left out."""
    sets = list(config["concept_sets"])
    inputs = {
        "table1": [results(f"metrics/{c}/table1.csv") for c in sets],
        "ablation": (
            [results(f"metrics/{c}/ablation.csv") for c in sets]
            if config.get("ablation")
            else []
        ),
        "per_neuron": [results(f"metrics/{c}/per_neuron.parquet") for c in sets],
        "ground_truth": results("ground_truth/neurons.parquet"),
        "descriptions": report_description_files(wildcards),
        "neurons": results("report/neurons.json"),
        "topk": report_topk_files(wildcards),
        "boxes": [
            results(f"views/{view}/boxes.parquet") for view in ("center", "gradcam")
        ],
        "split": probe_dir(),
        "localisation": convis_outputs()[:1],
        "neuron_maps": [results("convis/neuron_maps.npz")],
        "evidence": evidence_files("table.parquet"),
        "evidence_summary": evidence_files("summary.csv"),
        "evidence_check": evidence_files("check.csv"),
        "claims": [results("metrics/claims.csv")] if config.get("ablation") else [],
    }
    stability = stability_outputs()
    inputs["stability_table"] = stability[:1]
    inputs["stability_png"] = stability[2:3]
    inputs["stability_svg"] = stability[3:4]
    return inputs


def report_settings():
    return {
        "run": config["run"],
        "title": REPORT["title"],
        "config": config,
        "published": REPORT["published"],
        "published_stability": REPORT["published_stability"],
        "grid_methods": REPORT_GRID_METHODS,
        "top_images": REPORT["top_images"],
        "figure4_images": REPORT["figure4_images"],
        "pdf_description_rows": REPORT["pdf_description_rows"],
        "benchmarks_dir": results("benchmarks"),
        "fit_notes": FIT_NOTES,
        "explorer": "report/explorer/index.html",
    }


def neuron_map_files():
    """Each described layer's neuron maps (the explorer's top images and overlays)."""
    return [results(f"report/neuron_maps/{layer}.npz") for layer in LAYERS]


def neuron_maps_settings():
    return {
        "batch_size": config["batch_size"],
        "workers": config["loader_workers"],
        "precision": config["precision"],
        "tokens": TARGET["tokens"],
        "image_size": WORLD["image_size"] if WORLD_PROBE else None,
    }


def explorer_inputs(wildcards):
    concepts = REPORT_CONCEPT_SET
    return {
        "descriptions": [
            f for method in METHODS for f in description_files(concepts, method)
        ],
        "evidence": results(f"evidence/{concepts}/table.parquet"),
        "per_neuron": results(f"metrics/{concepts}/per_neuron.parquet"),
        "ground_truth": results("ground_truth/neurons.parquet"),
        "maps": neuron_map_files(),
        "split": probe_dir(),
    }


def report_files_built():
    """The report files this run made or found up to date (among its DAG's outputs, so
    not an older report of targets this run did not ask for), as absolute paths: what
    the workflow names when it succeeds (onsuccess in the Snakefile)."""
    wanted = [results("report.html"), results("report.pdf")]
    try:
        outputs = {str(f) for job in workflow.dag.jobs for f in job.output}
    except AttributeError:  # a Snakemake without this DAG API: the files alone
        outputs = set(wanted)
    return [os.path.abspath(f) for f in wanted if f in outputs and os.path.exists(f)]
