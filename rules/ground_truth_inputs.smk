# Input functions of the neurons' ground truth (rules/ground_truth.smk).


def activation_files(view):
    return [results(f"activations/{view}/{layer}.npz") for layer in LAYERS]
