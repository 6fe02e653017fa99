"""Connect to every instrument of a station with the driver of its model."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qneko_hw.config.station import Station
from qneko_hw.drivers.roles import SafetyLimits
from qneko_hw.errors import InstrumentError

__all__ = ["connect", "driver_class"]

log = logging.getLogger(__name__)


def driver_class(model: str) -> type[Any]:
    """The driver class (our QCoDeS driver, or an adapter of QCoDeS's own driver) for an
    instrument ``model`` of the station file; each fills the role of its model."""
    if model == "qneko_sg1":
        from qneko_hw.drivers.qneko_sg1 import QnekoSG1

        return QnekoSG1
    if model == "qneko_awg4":
        from qneko_hw.drivers.qneko_awg4 import QnekoAWG4

        return QnekoAWG4
    if model == "qneko_dig2":
        from qneko_hw.drivers.qneko_dig2 import QnekoDIG2

        return QnekoDIG2
    if model == "rs_sgs100a":
        from qneko_hw.drivers.rs_sgs100a import RsSgs100aSource

        return RsSgs100aSource
    if model == "tek_awg5208":
        from qneko_hw.drivers.tek_awg5208 import TekAwg5208

        return TekAwg5208
    if model == "yokogawa_gs200":
        from qneko_hw.drivers.yokogawa_gs200 import YokogawaGs200Source

        return YokogawaGs200Source
    if model == "rs_znb20":
        from qneko_hw.drivers.rs_znb20 import RsZnb20Vna

        return RsZnb20Vna
    raise InstrumentError(f"no driver for instrument model '{model}'", instrument=model)


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
