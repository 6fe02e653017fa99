"""Ideal values of the simulated chip, for tests only.

No calibration routine may call this module: calibrations see instrument data only. Tests
compare what a calibration found with these values.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from .transmon import TransmonParams, evolve, populations

__all__ = ["pi_amplitude"]

_SCAN_POINTS = 101


def pi_amplitude(
    params: TransmonParams,
    envelope_shape: NDArray[np.complexfloating] | NDArray[np.floating],
    dt_s: float,
    drive_frequency_hz: float,
    frame_frequency_hz: float,
) -> float:
    """Amplitude scale A (V at the chip) such that ``A·envelope_shape`` maximises P(|1>).

    For tests only. Found numerically without dissipation, starting from the thermal-free
    ground state: a batched scan of A over [0.4, 1.6]·A_0 around the area estimate
    ``A_0 = 1/(2·∫k·|shape|dt)``, refined with a bounded scalar minimisation.

    Args:
        params: the transmon.
        envelope_shape: (N,) pulse shape normalised to peak |shape| = 1, one sample per
            ``dt_s``, with the IF modulation already in it (a tone at f_frame + f_if is
            ``exp(−i2π f_if t)``), as the compiler would play it.
        dt_s: sample duration (s).
        drive_frequency_hz: the carrier the shape's IF puts the drive at (Hz); it must
            match ``frame_frequency_hz`` plus the IF in the shape (it is recorded here
            for the reader; the shape alone determines the pulse).
        frame_frequency_hz: frame (LO) frequency (Hz).

    Returns:
        A (V), the amplitude scale of the best π pulse of this shape.
    """
    del drive_frequency_hz  # documented above: the shape carries the IF
    shape = np.asarray(envelope_shape, dtype=np.complex128).reshape(-1)
    area = float(np.sum(np.abs(shape))) * dt_s * params.rabi_rate_hz_per_v
    if area <= 0:
        raise ValueError("envelope_shape has zero area")
    a0 = 1.0 / (2.0 * area)
    ground = np.zeros((params.levels, params.levels), dtype=np.complex128)
    ground[0, 0] = 1.0

    def p1(amplitudes: NDArray[np.float64]) -> NDArray[np.float64]:
        rho = evolve(
            params,
            amplitudes[:, None] * shape[None, :],
            dt_s,
            frame_frequency_hz,
            dissipation=False,
            rho0=ground,
        )
        return populations(rho)[:, 1]

    grid = np.linspace(0.4 * a0, 1.6 * a0, _SCAN_POINTS)
    best = int(np.argmax(p1(grid)))
    step = grid[1] - grid[0]
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, _SCAN_POINTS - 1)]
    if hi - lo < step:
        hi = lo + step
    result = scipy.optimize.minimize_scalar(
        lambda a: -float(p1(np.array([a]))[0]),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-10 * a0},
    )
    return float(result.x)
