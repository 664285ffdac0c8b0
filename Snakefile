# conceptlens: discover, explain and report what neurons of vision models respond to.
#
#   snakemake --cores all                                   # the world demo (config.yaml)
#   snakemake --cores all --configfile configs/tiny-world.yaml


# The default config, unless config files are given on the command line: a preset
# (configs/imagenet-resnet50.yaml) is complete; an overlay (configs/tiny-world.yaml)
# names the file it changes with `base: config.yaml`.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/probes.smk"
include: "rules/world.smk"
include: "rules/models.smk"
include: "rules/ground_truth.smk"
include: "rules/discovery.smk"
include: "rules/analysis.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
