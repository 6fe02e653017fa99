"""Connect to every instrument of a station with the driver of its model."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qneko_hw import instruments
from qneko_hw.config.station import Station
from qneko_hw.errors import InstrumentError
from qneko_hw.roles import SafetyLimits

__all__ = ["connect", "driver_class"]

log = logging.getLogger(__name__)


def driver_class(model: str) -> type[Any]:
    """The driver class (our QCoDeS driver, or an adapter of QCoDeS's own driver) for an
    instrument ``model`` of the station file: the ``driver`` of its entry in
    :data:`qneko_hw.instruments.MODELS`, imported now; each fills the role of its model.

    Raises:
        InstrumentError: ``model`` is not in the table.
    """
    spec = instruments.MODELS.get(model)
    if spec is None:
        known = ", ".join(instruments.MODELS)
        raise InstrumentError(
            f"no driver for instrument model '{model}' (known models: {known})", instrument=model
        )
    module, _, name = spec.driver.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


@contextmanager
def connect(station: Station) -> Iterator[dict[str, Any]]:
    """Open a driver per instrument (name → driver); all are closed on exit.

    Raises:
        InstrumentError: an address is still ``sim`` (start the simulated lab first) or an
            instrument cannot be reached.
    """
    opened: dict[str, Any] = {}
    try:
        for name, cfg in station.instruments.items():
            if cfg.address == "sim":
                raise InstrumentError(
                    f"{name} has address 'sim': start a SimulatedLab and use its station",
                    instrument=name,
                )
            cls = driver_class(cfg.model)
            limits = SafetyLimits(**cfg.limits.model_dump())
            try:
                opened[name] = cls(name, cfg.address, limits=limits)
            except InstrumentError:
                raise
            except Exception as exc:
                raise InstrumentError(
                    f"cannot connect to {name} at {cfg.address}: {exc}", instrument=name
                ) from exc
        yield opened
    finally:
        for name, drv in opened.items():
            try:
                drv.close()
            except Exception:
                log.exception("closing %s failed", name)
