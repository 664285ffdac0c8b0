# conceptlens: discover, explain and report what neurons of vision models respond to.
#
#   snakemake --cores all                                   # the world demo (config.yaml)
#   snakemake --cores all --configfile configs/tiny-world.yaml


configfile: "config.yaml"


include: "rules/common.smk"
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
