# Input functions and params of the requirements check and the probe index
# (rules/probes.smk).
from conceptlens.stages.probe import check_requirements_at_start


def probe_content():
    """The probe folder's image count and fingerprint (conceptlens.probes.probe_state):
    a param of the index, so that a change of the folder's content re-runs it."""
    if PROBE_STATE is None:
        return None
    count, fingerprint = PROBE_STATE
    return {"images": count, "sha256": fingerprint}
