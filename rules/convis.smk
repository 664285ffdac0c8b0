# ConVis concept saliency maps: the localisation table (world probe sets) and the maps of
# the report's grid neurons.


# The ConVis settings of both ConVis rules (conceptlens.stages.convis); the localisation
# run adds how many probe images it draws and its seed.
CONVIS_SETTINGS = {
    "clip": CONVIS_CLIP,
    "pretrained": clip_pretrained(CONVIS["clip_model"]),
    "node_text": CONVIS["node_text"],
    "template": CONVIS["template"],
    "window_sizes": CONVIS["window_sizes"],
    "stride": CONVIS["stride"],
    "reference_size": CONVIS["reference_size"],
    "batch_size": CONVIS["batch_size"],
    "device": config["device"],
    "precision": CONVIS["precision"],
}


rule convis_localisation:
    input:
        split=probe_dir(),
        cams=results("views/gradcam/cams.npz"),
        hierarchy=hierarchy_file(),
        checkpoint=convis_clip_checkpoint_files,
    output:
        csv=report(
            results("convis/localisation.csv"),
            caption="../reports/captions/convis_localisation.rst",
            category="ConVis",
        ),
        json=results("convis/localisation.json"),
        maps=results("convis/localisation_maps.npz"),
    log:
        results("logs/convis/localisation.log"),
    benchmark:
        results("benchmarks/convis/localisation.tsv")
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        settings={
            **CONVIS_SETTINGS,
            "images": CONVIS["evaluation_images"],
            "seed": CONVIS["seed"],
        },
    script:
        "../scripts/convis_localisation.py"


rule convis_maps:
    input:
        neurons=results("report/neurons.json"),
        split=probe_dir(),
        hierarchy=hierarchy_file(),
        checkpoint=convis_clip_checkpoint_files,
    output:
        results("convis/neuron_maps.npz"),
    log:
        results("logs/convis/neuron_maps.log"),
    benchmark:
        results("benchmarks/convis/neuron_maps.tsv")
    priority: CRITICAL_PATH
    conda:
        "../envs/conceptlens.yaml"
    threads: THREADS
    resources:
        gpu=1,
    params:
        settings=CONVIS_SETTINGS,
    script:
        "../scripts/convis_maps.py"
