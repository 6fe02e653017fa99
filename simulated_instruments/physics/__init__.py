"""The physical chip model: transmons (batched Lindblad solver) and dispersive readout.

Pure numpy / scipy. ``truth`` holds ideal values for tests only (calibrations never see it).
"""

from .cache import PropagatorCache
from .readout import (
    ResonatorParams,
    assignment_fidelity_truth,
    drive_per_v_for_photons,
    integrate_shots,
    integration_noise_std_v,
    level_shifts_hz,
    mean_integrated,
    mean_traces,
    noise,
)
from .transmon import (
    TransmonParams,
    apply_superoperator,
    default_substeps,
    dissipator_superoperator,
    evolve,
    populations,
    thermal_populations,
    thermal_state,
    unitary,
)

__all__ = [
    "PropagatorCache",
    "ResonatorParams",
    "TransmonParams",
    "apply_superoperator",
    "assignment_fidelity_truth",
    "default_substeps",
    "dissipator_superoperator",
    "drive_per_v_for_photons",
    "evolve",
    "integrate_shots",
    "integration_noise_std_v",
    "level_shifts_hz",
    "mean_integrated",
    "mean_traces",
    "noise",
    "populations",
    "thermal_populations",
    "thermal_state",
    "unitary",
]
