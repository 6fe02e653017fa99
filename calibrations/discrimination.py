"""Single-shot discrimination: prepare |0⟩ and |1⟩, fit the IQ blobs, set the threshold.

build → a two-step amplitude sweep of the calibrated π pulse (0 V: |0⟩; π amplitude: |1⟩),
then measure; analyze → rotate the shots so that the line through the two blob means lies
along I (``iq_angle_rad``), pick the threshold on the rotated I axis that maximises the
empirical assignment fidelity ``F = 1 − ½·[P(1|0) + P(0|1)]``, and fit each blob with a
two-Gaussian mixture of common width (centres, σ, the |1⟩ fraction in each preparation);
update → ``iq_angle_rad``, ``threshold`` and ``assignment_fidelity``.

The fidelity reported is what this readout gives on these preparations: thermal
population of the |0⟩ preparation, π-pulse errors and decay during the readout all count
against it, as they would for any later measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qneko_hw.analysis import Fit, Quality
from qneko_hw.calibrations.gates import drive_limit_v, gate_pulse
from qneko_hw.config.calibration import CalibrationState, CalValue
from qneko_hw.config.station import Station
from qneko_hw.discrimination import best_threshold, rotate
from qneko_hw.errors import CalibrationError
from qneko_hw.executor import ExecutionResult
from qneko_hw.experiment import Experiment, Measure, Play, Sweep

__all__ = ["Discrimination", "fit_blobs"]

_EM_ITERATIONS = 200


def fit_blobs(
    ground_v: NDArray[np.float64], excited_v: NDArray[np.float64]
) -> tuple[float, float, float, float, float]:
    """Two Gaussians of common σ on rotated I, mixed in each preparation (EM).

    Returns:
        (centre_0, centre_1, sigma, w_0, w_1): centres and σ in V; ``w_k`` is the fraction
        of preparation k's shots in the |1⟩ blob.
    """
    data = (np.asarray(ground_v, dtype=np.float64), np.asarray(excited_v, dtype=np.float64))
    c0, c1 = float(np.median(data[0])), float(np.median(data[1]))
    sigma = max(0.5 * (float(np.std(data[0])) + float(np.std(data[1]))), 1e-12)
    w = [0.05, 0.95]
    for _ in range(_EM_ITERATIONS):
        resp = []
        for k, x in enumerate(data):
            l0 = (1 - w[k]) * np.exp(-0.5 * ((x - c0) / sigma) ** 2)
            l1 = w[k] * np.exp(-0.5 * ((x - c1) / sigma) ** 2)
            resp.append(l1 / np.maximum(l0 + l1, 1e-300))
        w = [float(np.clip(r.mean(), 1e-6, 1 - 1e-6)) for r in resp]
        x_all = np.concatenate(data)
        r_all = np.concatenate(resp)
        n1 = max(float(r_all.sum()), 1e-12)
        n0 = max(float((1 - r_all).sum()), 1e-12)
        new_c0 = float(((1 - r_all) * x_all).sum() / n0)
        new_c1 = float((r_all * x_all).sum() / n1)
        var = ((1 - r_all) * (x_all - new_c0) ** 2 + r_all * (x_all - new_c1) ** 2).sum()
        new_sigma = max(math.sqrt(float(var) / x_all.size), 1e-12)
        done = abs(new_c0 - c0) + abs(new_c1 - c1) + abs(new_sigma - sigma) < 1e-6 * sigma
        c0, c1, sigma = new_c0, new_c1, new_sigma
        if done:
            break
    return c0, c1, sigma, w[0], w[1]


@dataclass(frozen=True)
class Discrimination:
    """Single-shot readout discrimination and assignment fidelity.

    Attributes:
        shots: shots per preparation (each of |0⟩ and |1⟩).
    """

    shots: int = 2000
    name: str = "discrimination"

    def build(self, qubit: str, state: CalibrationState, station: Station) -> Experiment:
        """Experiment: calibrated π pulse at amplitude 0 V then π amplitude (V), measure."""
        cal = state.qubit(qubit)
        drive_limit_v(station, qubit, self.name)
        return Experiment(
            name=f"{self.name}_{qubit}",
            instructions=(
                Play(channel=f"{qubit}.drive", pulse=gate_pulse(cal, 0.0)),
                Measure(qubit=qubit, name=qubit),
            ),
            sweep=Sweep(
                parameter="amplitude_v",
                instruction=0,
                values=(0.0, cal.pi_amplitude_v.value),
            ),
            shots=self.shots,
        )

    def analyze(self, qubit: str, result: ExecutionResult) -> Fit:
        """Angle (rad), threshold (V) and assignment fidelity from the two preparations."""
        data = np.asarray(result.acquisition(qubit, self.name), dtype=np.complex128)
        if data.shape[0] != 2 or data.shape[1] < 10:
            return Fit.failed(
                self.name, qubit, f"expected 2 preparations of ≥ 10 shots, got {data.shape}"
            )
        n = data.shape[1]
        mean0, mean1 = complex(data[0].mean()), complex(data[1].mean())
        if mean1 == mean0:
            return Fit.failed(self.name, qubit, "the two preparations give the same mean")
        angle = math.atan2((mean1 - mean0).imag, (mean1 - mean0).real)
        r0, r1 = rotate(data[0], angle), rotate(data[1], angle)
        threshold, fidelity = best_threshold(r0, r1)
        c0, c1, sigma, w0, w1 = fit_blobs(r0, r1)
        p10 = float((r0 > threshold).mean())
        p01 = float((r1 <= threshold).mean())
        fid_err = 0.5 * math.sqrt((p10 * (1 - p10) + p01 * (1 - p01) + 1.0 / n) / n)
        snr = abs(c1 - c0) / sigma
        # angle uncertainty: scatter of the mean difference across the separation
        spread = float(np.sqrt(data[0].var() + data[1].var()) / math.sqrt(n))
        angle_err = spread / abs(mean1 - mean0)
        quality: Quality
        if snr > 2.0 and fidelity > 0.8:
            quality, msg = "good", f"blobs separated by {snr:.1f} σ"
        elif snr > 1.0 and fidelity > 0.6:
            quality, msg = "poor", f"blobs overlap: separation {snr:.1f} σ"
        else:
            quality, msg = "bad", f"blobs not resolved: separation {snr:.1f} σ"
        return Fit(
            routine=self.name,
            qubit=qubit,
            values={
                "iq_angle_rad": angle,
                "threshold_v": threshold,
                "assignment_fidelity": fidelity,
                "p1_given_0": p10,
                "p0_given_1": p01,
                "centre_0_v": c0,
                "centre_1_v": c1,
                "sigma_v": sigma,
                "snr": snr,
                "excited_fraction_0": w0,
                "excited_fraction_1": w1,
            },
            uncertainties={
                "iq_angle_rad": angle_err,
                "threshold_v": sigma / math.sqrt(n),
                "assignment_fidelity": fid_err,
            },
            quality=quality,
            r_squared=0.0,
            message=msg,
            x=(0.0, 1.0),
            y=(p10, 1.0 - p01),
        )

    def update(self, state: CalibrationState, fit: Fit, run_id: str) -> CalibrationState:
        """New state with the discriminator and fidelity; a bad fit raises CalibrationError."""
        if fit.quality == "bad":
            raise CalibrationError(
                f"{fit.qubit}: discrimination unusable: {fit.message}",
                qubit=fit.qubit,
                routine=self.name,
                reason=fit.message,
            )
        v, u = fit.values, fit.uncertainties
        return state.with_qubit(
            fit.qubit,
            iq_angle_rad=CalValue.measured(v["iq_angle_rad"], u["iq_angle_rad"], run_id),
            threshold=CalValue.measured(v["threshold_v"], u["threshold_v"], run_id),
            assignment_fidelity=CalValue.measured(
                v["assignment_fidelity"], u["assignment_fidelity"], run_id
            ),
        )
