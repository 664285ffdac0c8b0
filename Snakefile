# conceptlens: discover, explain and report what neurons of vision models respond to.
#
#   snakemake --cores all                                   # the world demo (config.yaml)
#   snakemake --cores all --configfile configs/tiny-world.yaml


#   snakemake -s /path/to/Snakefile -d WORKDIR --configfile mine.yaml  # from anywhere
#
# The workflow's own folder (this file's, also when it is a module of another workflow):
# the default config, the base: files of overlays, the shipped world models, report
# templates and scripts are found there; results/ goes to the working directory (-d).
CONCEPTLENS_DIR = str(workflow.current_basedir)
# The conceptlens package next to this file (a checkout, or the installed package that
# holds this folder as conceptlens/_workflow) is the one imported.
sys.path.insert(
    0,
    (
        CONCEPTLENS_DIR
        if os.path.isdir(os.path.join(CONCEPTLENS_DIR, "conceptlens"))
        else os.path.dirname(os.path.dirname(CONCEPTLENS_DIR))
    ),
)


# The default config, unless config files are given on the command line: a preset
# (configs/imagenet-resnet50.yaml) is complete; an overlay (configs/tiny-world.yaml)
# names the file it changes with `base: config.yaml`.
if not workflow.overwrite_configfiles:
    # A YAML error stops here naming the file, line and column (Snakemake's message
    # names neither; for --configfile files: conceptlens check-config FILE).
    from conceptlens.config import read_config_file

    read_config_file(os.path.join(CONCEPTLENS_DIR, "config.yaml"))

    configfile: os.path.join(CONCEPTLENS_DIR, "config.yaml")


# snakemake --report report.zip: the run's tables, charts, sample figure and report as
# report items (report() outputs, captions in reports/captions/), under this text.
report: "reports/workflow.rst"


# The rules, one file per stage (rules/<stage>.smk), in the order of the DAG; the input
# functions of a stage come right before its rules (rules/<stage>_inputs.smk: rule
# files hold no functions), helpers of several stages first (rules/common.smk).
include: "rules/common.smk"
include: "rules/probes_inputs.smk"
include: "rules/probes.smk"
include: "rules/world_inputs.smk"
include: "rules/world.smk"
include: "rules/models.smk"
include: "rules/concept_sets_inputs.smk"
include: "rules/concept_sets.smk"
include: "rules/target_inputs.smk"
include: "rules/target.smk"
include: "rules/ground_truth_inputs.smk"
include: "rules/ground_truth.smk"
include: "rules/clip_inputs.smk"
include: "rules/clip.smk"
include: "rules/tuning_inputs.smk"
include: "rules/tuning.smk"
include: "rules/describe_inputs.smk"
include: "rules/describe.smk"
include: "rules/metrics_inputs.smk"
include: "rules/metrics.smk"
include: "rules/evidence_inputs.smk"
include: "rules/evidence.smk"
include: "rules/stability_inputs.smk"
include: "rules/stability.smk"
include: "rules/convis_inputs.smk"
include: "rules/convis.smk"
include: "rules/report_inputs.smk"
include: "rules/report.smk"
include: "rules/all_inputs.smk"


rule all:
    default_target: True
    input:
        all_outputs(),


# Where the report is, once the run succeeded (when the report was among its targets).
onsuccess:
    for path in report_files_built():
        print(f"conceptlens: the report is {path}", file=sys.stderr)
