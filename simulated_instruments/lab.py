"""The simulated lab: twins of every instrument of a station, wired to a transmon chip.

Signal chain per line (drive or readout), per AWG sample (piecewise constant, dt = 1/rate),
kept as the sequencer's entries (:mod:`~qneko_hw.simulated_instruments.physics.pieces`:
an idle of any length is one value, evolved in closed form):

    z(t) = [ (I + o_I) + i·(1 + g)·e^{iφ}·(Q + o_Q) ] · 10^(−att/20) · [LO on]

with I, Q the AWG channel voltages, (g, φ, o_I, o_Q) the station's mixer imperfections and
``att`` the line attenuation (dB). ``z`` is the complex envelope at the chip in the frame of
the line's LO frequency (see :mod:`qneko_hw.compiler.compile` for the modulation sign).

When a readout AWG is triggered while its feedline's digitizer is armed, the lab evolves
every qubit on that feedline through its drive waveform up to the first readout sample
(one batched solver call per qubit for all sweep steps), draws each shot's level from the
final populations, and integrates the dispersive readout of all resonators on the feedline
(signals add; noise is added once). The lab clock advances by shots × steps × repetition
time. Shots use a seeded RNG, so a station seed makes a whole run repeatable. With a
:class:`~qneko_hw.simulated_instruments.fabrication.Drift` the device ages on that clock:
after every acquisition the chip is the starting device drifted by the lab time so far.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qneko_hw import instruments
from qneko_hw.config.chip import Chip
from qneko_hw.config.station import DriveLine, MixerConfig, ReadoutLine, Station
from qneko_hw.errors import ConfigError
from qneko_hw.simulated_instruments.physics import pieces, transmon
from qneko_hw.simulated_instruments.physics import readout as ro_physics
from qneko_hw.simulated_instruments.scpi.server import ScpiServer

if TYPE_CHECKING:
    from qneko_hw.simulated_instruments.awg_twin import AwgTwin
    from qneko_hw.simulated_instruments.digitizer_twin import DigitizerTwin
    from qneko_hw.simulated_instruments.fabrication import Drift
    from qneko_hw.simulated_instruments.lo_twin import LoTwin
    from qneko_hw.simulated_instruments.rs_sgs100a_twin import Sgs100aTwin
    from qneko_hw.simulated_instruments.tek_awg5208_twin import Awg5208Twin

__all__ = ["SimulatedLab", "twin_class"]

log = logging.getLogger(__name__)


def twin_class(model: str) -> type[Any]:
    """The twin class of instrument ``model``: the ``twin`` of its entry in
    :data:`qneko_hw.instruments.MODELS`, imported now.

    Raises:
        ConfigError: ``model`` is not in the table.
    """
    module, _, name = instruments.model(model).twin.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def transmon_params(chip: Chip, qubit: str, bias_current_a: float = 0.0) -> transmon.TransmonParams:
    """Physics parameters of ``qubit`` from the chip description, at a bias current (A).

    A flux-tunable qubit sits at Φ = M·I + Φ_offset (see :class:`~qneko_hw.config.FluxTuning`).
    """
    q = chip.qubits[qubit]
    frequency = q.frequency_hz
    if q.flux is not None and bias_current_a != 0.0:
        offset = q.flux.offset(q.frequency_hz, q.anharmonicity_hz)
        phi = q.flux.flux_per_amp * bias_current_a + offset
        frequency = q.flux.frequency_hz(phi, q.anharmonicity_hz)
    return transmon.TransmonParams(
        frequency_hz=frequency,
        anharmonicity_hz=q.anharmonicity_hz,
        t1_s=q.t1_s,
        t2_s=q.t2_s,
        rabi_rate_hz_per_v=q.rabi_rate_hz_per_v,
        thermal_population=q.thermal_population,
    )


def resonator_params(chip: Chip, qubit: str) -> ro_physics.ResonatorParams:
    """Physics parameters of the readout resonator of ``qubit``."""
    r = chip.resonators[chip.qubits[qubit].resonator]
    return ro_physics.ResonatorParams(
        frequency_hz=r.frequency_hz,
        kappa_hz=r.kappa_hz,
        chi_hz=r.chi_hz,
        drive_per_v=r.drive_per_v,
        output_gain_v=r.output_gain_v,
        noise_v_per_sqrt_hz=r.noise_v_per_sqrt_hz,
    )


def mix(
    i_v: NDArray[np.float64], q_v: NDArray[np.float64], mixer: MixerConfig, attenuation_db: float
) -> NDArray[np.complex128]:
    """Complex envelope at the chip (V) from AWG I/Q voltages through an imperfect IQ mixer."""
    q_arm = (
        (1 + mixer.gain_imbalance) * np.exp(1j * mixer.phase_error_rad) * (q_v + mixer.offset_q_v)
    )
    z = (i_v + mixer.offset_i_v) + 1j * q_arm
    return np.asarray(z * 10 ** (-attenuation_db / 20), dtype=np.complex128)


class SimulatedLab:
    """Twins of a station's instruments on loopback ports, backed by a chip model.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. After start,
    :attr:`station` holds the station with the twins' addresses.

    ``drift``: how the device ages on the lab clock (default: it does not).

    ``workers``: processes that solve the driven qubits of a multiplexed program side by
    side (0: solve everything in this process). The default, on Linux when a feedline has
    two driven qubits: one per core but one, at most 4, and none on a machine of two cores,
    where the processes compete with this one and their traffic costs more than they save
    (measured: a 4-qubit tune-up 49 s in-process against 60 s with workers, 2 cores).
    """

    def __init__(
        self,
        chip: Chip,
        station: Station,
        seed: int | None = None,
        *,
        workers: int | None = None,
        drift: Drift | None = None,
    ) -> None:
        self.chip = chip
        self.device_at_start = chip
        self.drift = drift if drift is not None and drift.active else None
        self._station_in = station
        self.seed = seed if seed is not None else (station.seed if station.seed is not None else 0)
        self.rng = np.random.default_rng(self.seed)
        self.clock_s = 0.0
        self.twins: dict[str, Any] = {}
        self.servers: dict[str, ScpiServer] = {}
        self._station: Station | None = None
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        if workers is not None and workers < 0:
            raise ConfigError(f"workers must be >= 0, got {workers}", field="workers")
        self._workers_wanted = workers
        feeds_chip = {r.feedline for r in chip.resonators.values()}
        for feed in feeds_chip:
            if feed not in station.readout:
                raise ConfigError(
                    f"the chip's feedline '{feed}' has no readout line in the station",
                    field=f"readout.{feed}",
                )

    @property
    def station(self) -> Station:
        """The station with the running twins' addresses."""
        if self._station is None:
            raise RuntimeError("the simulated lab is not started")
        return self._station

    def start(self) -> Station:
        """Start one twin per instrument on an ephemeral loopback port; returns the station."""
        addresses: dict[str, str] = {}
        self._start_workers()
        try:
            for name, cfg in self._station_in.instruments.items():
                role = instruments.model(cfg.model).role
                twin = twin_class(cfg.model)(name=name)
                if role == "awg":
                    twin.on_trigger = self._on_trigger
                if role == "vna":  # the VNA sees every resonator on the feedline
                    twin.resonators = [
                        (self.qubit_params(q), resonator_params(self.chip, q))
                        for q in self.chip.qubits
                    ]
                server = ScpiServer(twin)
                server.start()
                self.twins[name] = twin
                self.servers[name] = server
                addresses[name] = server.address
        except BaseException:
            self.stop()
            raise
        self._station = self._station_in.with_addresses(addresses)
        log.info("simulated lab up: %s", addresses)
        return self._station

    def stop(self) -> None:
        """Stop every twin and release the ports."""
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
        self._station = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> SimulatedLab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bias_current_a(self, qubit: str) -> float:
        """Bias current (A) the station's DC source drives through ``qubit``'s bias line."""
        line = self._station_in.bias.get(qubit)
        if line is None or line.source not in self.twins:
            return 0.0
        return float(self.twins[line.source].voltage_v) / line.resistance_ohm

    def qubit_params(self, qubit: str) -> transmon.TransmonParams:
        """Physics parameters of ``qubit`` now (its frequency follows the flux bias)."""
        return transmon_params(self.chip, qubit, self.bias_current_a(qubit))

    # -- signal chain ----------------------------------------------------------------------
    def _line_envelope(
        self, line: DriveLine | ReadoutLine, step: int
    ) -> tuple[list[pieces.Piece], float, float]:
        """(envelope at chip (V) as the sequencer's pieces, LO frequency (Hz), dt (s)) of a
        line at a sequence step."""
        awg: AwgTwin | Awg5208Twin = self.twins[line.awg]
        lo: LoTwin | Sgs100aTwin = self.twins[line.lo]
        if awg.running:
            i_v = awg.step_pieces(step, line.channel_i)
            q_v = awg.step_pieces(step, line.channel_q)
        else:  # a stopped AWG plays nothing, whatever program it still holds
            i_v = q_v = []
        mixer, att = line.mixer, line.attenuation_db
        z = pieces.combine(
            i_v,
            q_v,
            lambda i, q: mix(
                np.asarray(i, dtype=np.float64), np.asarray(q, dtype=np.float64), mixer, att
            ),
        )
        if not lo.output:
            z = [(np.zeros(1, dtype=np.complex128), pieces.length(z))] if z else []
        return z, float(lo.frequency_hz), 1.0 / float(awg.sample_rate_hz)

    def _on_trigger(self, awg: AwgTwin | Awg5208Twin) -> None:
        with self._lock:
            for feed, line in self.station.readout.items():
                if self.twins[line.awg] is not awg:
                    continue
                dig: DigitizerTwin = self.twins[line.digitizer]
                if not dig.armed:
                    continue
                dig.deliver(self._acquire(feed, line, dig))

    def _acquire(self, feed: str, line: ReadoutLine, dig: DigitizerTwin) -> NDArray[np.complex64]:
        cfg = dig.config
        steps, shots = int(cfg.steps), int(cfg.shots)
        awg: AwgTwin | Awg5208Twin = self.twins[line.awg]
        qubits = [
            q
            for q, spec in self.chip.qubits.items()
            if self.chip.resonators[spec.resonator].feedline == feed
        ]
        ro_env = [self._line_envelope(line, k) for k in range(steps)]
        ro_start = [pieces.first_nonzero(z) for z, _, _ in ro_env]
        # qubit level at the start of the readout, per qubit, step and shot
        levels: dict[str, NDArray[np.int64]] = {}
        pops = self._populations(qubits, steps, ro_start)
        for q, p in zip(qubits, pops, strict=True):
            levels[q] = self._draw_levels(p, shots)
        out = np.zeros((steps, shots, len(cfg.demodulators)), dtype=np.complex128)
        for k in range(steps):
            z_ro, f_lo, dt = ro_env[k]
            r0 = ro_start[k]
            env = np.asarray(pieces.expand(z_ro, r0), dtype=np.complex128)
            active = [
                d for d, dem in enumerate(cfg.demodulators) if dem.channel == line.digitizer_channel
            ]
            windows = []
            for d in active:
                dem = cfg.demodulators[d]
                length = int(dem.length_samples)
                weights = (
                    np.ones(length, dtype=np.complex128)
                    if dem.weights is None
                    else np.asarray(dem.weights, dtype=np.complex128)
                )
                windows.append(
                    ro_physics.ReadoutWindow(
                        weights, int(dem.start_samples) - r0, length, float(dem.frequency_hz)
                    )
                )
            # every resonator on the feedline, traced once, integrated in every window
            total = np.zeros((shots, len(windows)), dtype=np.complex128)
            noise_density = 0.0
            for q in qubits:
                res = resonator_params(self.chip, q)
                noise_density = max(noise_density, res.noise_v_per_sqrt_hz)
                if env.size == 0 or not windows:
                    continue
                total += ro_physics.integrate_shots_windows(
                    self.rng,
                    self.qubit_params(q),
                    res,
                    env,
                    dt,
                    frame_frequency_hz=f_lo,
                    level_samples=levels[q][k],
                    windows=windows,
                    add_noise=False,
                )
            for i, (d, w) in enumerate(zip(active, windows, strict=True)):
                # The physics demodulates with t = k·dt, k counted from the readout's first
                # sample r0; the digitizer, like the AWG, uses the centre of each sample
                # from the trigger, t = (r0 + k + 1/2)·dt. Without this the IQ angle would
                # depend on when the readout starts and on the IF.
                col = total[:, i] * np.exp(2j * np.pi * w.demod_frequency_hz * (r0 + 0.5) * dt)
                std = ro_physics.integration_noise_std_v(
                    noise_density, w.length_samples * dt, w.weights
                )
                out[k, :, d] = col + ro_physics.noise(self.rng, (shots,), std)
        self.clock_s += steps * shots * float(awg.repetition_time_s)
        self._age()
        return out.astype(np.complex64)

    def _age(self) -> None:
        """The device after the lab time so far (with a drift); the VNA sees it too."""
        if self.drift is None:
            return
        self.chip = self.drift.at(self.device_at_start, self.clock_s / 3600.0)
        for twin in self.twins.values():
            if hasattr(twin, "resonators"):
                twin.resonators = [
                    (self.qubit_params(q), resonator_params(self.chip, q)) for q in self.chip.qubits
                ]

    def _drive_batch(
        self, qubit: str, steps: int, ro_start: list[int]
    ) -> tuple[list[list[pieces.Piece]], float, float] | None:
        """Drive envelopes at the chip up to each step's readout (pieces per step), the LO
        frequency (Hz) and dt (s); None when nothing drives the qubit."""
        line = self.station.drive.get(qubit)
        if line is None:
            return None
        batch = []
        f_lo, dt = 0.0, 1e-9
        for k in range(steps):
            z, f_lo, dt = self._line_envelope(line, k)
            batch.append(pieces.truncate(z, ro_start[k]))
        if all(pieces.is_zero(p) for p in batch):
            return None
        return batch, f_lo, dt

    def _populations(
        self, qubits: list[str], steps: int, ro_start: list[int]
    ) -> list[NDArray[np.float64]]:
        """(steps, levels) populations of each qubit when its readout starts (no RNG).

        The qubits evolve independently. With several driven (a multiplexed program) they
        are solved side by side in worker processes: the solver's time loop is Python and
        would hold this process's GIL, which the instruments' servers share.
        """
        jobs = [(self.qubit_params(q), self._drive_batch(q, steps, ro_start)) for q in qubits]
        driven = [i for i, (_, b) in enumerate(jobs) if b is not None]
        pops: list[NDArray[np.float64] | None] = [None] * len(jobs)
        pool = self._pool
        if len(driven) > 1 and pool is not None:
            try:
                futures = {}
                for i in driven:
                    params, batch = jobs[i]
                    assert batch is not None
                    futures[i] = pool.submit(_driven_populations, params, *batch)
                for i, fut in futures.items():
                    pops[i] = fut.result()
            except BrokenProcessPool:  # a worker died: solve here from now on
                log.warning("simulated lab: worker processes lost, solving in-process")
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                pops = [None] * len(jobs)
        for i, (params, batch) in enumerate(jobs):
            if pops[i] is None:
                pops[i] = (
                    _driven_populations(params, *batch)
                    if batch is not None
                    else _thermal_populations(params, steps)
                )
        return [p for p in pops if p is not None]

    def _start_workers(self) -> None:
        """Worker processes for multiplexed programs (see :meth:`_populations`), started
        before the servers' threads: on Linux they are forked, with nothing to re-import.
        Only for a station that can drive two qubits of one feedline at once."""
        if self._pool is not None or self._workers_wanted == 0:
            return
        if not sys.platform.startswith("linux"):  # fork is Linux-only safe enough here
            return
        feeds: dict[str, int] = {}
        for q, spec in self.chip.qubits.items():
            if q in self._station_in.drive:
                feed = self.chip.resonators[spec.resonator].feedline
                feeds[feed] = feeds.get(feed, 0) + 1
        if max(feeds.values(), default=0) < 2:
            return
        workers = self._workers_wanted
        if workers is None:
            workers = min(4, (os.cpu_count() or 1) - 1) if (os.cpu_count() or 1) > 2 else 0
        if workers == 0:
            return
        ctx = multiprocessing.get_context("fork")
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_ignore_sigint
        )
        self._pool.submit(int).result()  # fork them now, while this thread is alone

    def _draw_levels(self, pops: NDArray[np.float64], shots: int) -> NDArray[np.int64]:
        """(steps, shots) levels drawn from (steps, levels) populations."""
        steps, d = pops.shape
        levels = np.empty((steps, shots), dtype=np.int64)
        for k in range(steps):
            counts = self.rng.multinomial(shots, pops[k])
            lv = np.repeat(np.arange(d), counts)
            self.rng.shuffle(lv)
            levels[k] = lv
        return levels


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the calibrating process (it stops after the current
    routine, which still needs them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _normalised(pops: NDArray[np.float64]) -> NDArray[np.float64]:
    pops = np.clip(np.asarray(pops, dtype=np.float64), 0.0, None)
    return np.asarray(pops / pops.sum(axis=1, keepdims=True), dtype=np.float64)


def _thermal_populations(params: transmon.TransmonParams, steps: int) -> NDArray[np.float64]:
    return _normalised(np.tile(np.diag(transmon.thermal_state(params)).real, (steps, 1)))


def _driven_populations(
    params: transmon.TransmonParams, batch: list[list[pieces.Piece]], f_lo: float, dt: float
) -> NDArray[np.float64]:
    """Populations after a batch of drive envelopes (top level: runs in worker processes)."""
    return _normalised(transmon.populations(pieces.evolve_pieces(params, batch, dt, f_lo)))


@contextmanager
def running_lab(chip: Chip, station: Station, seed: int | None = None) -> Iterator[SimulatedLab]:
    """Context manager: a started :class:`SimulatedLab`."""
    lab = SimulatedLab(chip, station, seed)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
