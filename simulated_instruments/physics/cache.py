"""Content-keyed cache of whole-waveform superoperators (see :class:`PropagatorCache`)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray

from .transmon import TransmonParams, evolve

__all__ = ["PropagatorCache"]

ComplexArray = NDArray[np.complex128]


class PropagatorCache:
    """Bounded LRU cache of whole-waveform superoperators, keyed by content (sha256).

    Compiled programs repeat a few distinct waveforms many times; each is solved once.
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._store: OrderedDict[str, ComplexArray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    @staticmethod
    def key(
        params: TransmonParams,
        envelope: ComplexArray,
        dt_s: float,
        frame_frequency_hz: float,
        dissipation: bool,
    ) -> str:
        """sha256 over the waveform bytes, the parameters, dt, the frame and the mode."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(envelope, dtype=np.complex128).tobytes())
        digest.update(repr((params, float(dt_s), float(frame_frequency_hz), dissipation)).encode())
        return digest.hexdigest()

    def superoperator(
        self,
        params: TransmonParams,
        envelope: ComplexArray,
        dt_s: float,
        frame_frequency_hz: float,
        *,
        dissipation: bool = True,
    ) -> ComplexArray:
        """Row-major (d², d²) superoperator of one envelope (N,) (V at the chip, per dt_s).

        Apply it with :func:`apply_superoperator`. The returned array is read-only.
        """
        env = np.asarray(envelope, dtype=np.complex128).reshape(-1)
        k = self.key(params, env, dt_s, frame_frequency_hz, dissipation)
        found = self._store.get(k)
        if found is not None:
            self._store.move_to_end(k)
            self.hits += 1
            return found
        self.misses += 1
        d = params.levels
        basis = np.eye(d * d, dtype=np.complex128).reshape(d * d, d, d)
        out = evolve(
            params,
            np.broadcast_to(env, (d * d, env.size)),
            dt_s,
            frame_frequency_hz,
            dissipation=dissipation,
            rho0=basis,
        )
        superop = np.ascontiguousarray(out.reshape(d * d, d * d).T)
        superop.setflags(write=False)
        self._store[k] = superop
        if len(self._store) > self.maxsize:
            self._store.popitem(last=False)
        return superop
