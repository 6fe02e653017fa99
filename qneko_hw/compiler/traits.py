"""Device traits per instrument model, as data: what the compiler must respect.

The traits are part of each model's entry in :data:`qneko_hw.instruments.MODELS`; this
module looks them up for the compiler.
"""

from __future__ import annotations

from qneko_hw import instruments
from qneko_hw.errors import ConfigError
from qneko_hw.instruments import AwgTraits, DigitizerTraits

__all__ = ["AwgTraits", "DigitizerTraits", "awg_traits", "digitizer_traits"]


def awg_traits(model: str) -> AwgTraits:
    """Traits of AWG ``model``.

    Raises:
        ConfigError: ``model`` is unknown, or no AWG (both name the model).
    """
    spec = instruments.model(model)
    if spec.awg is None:
        raise ConfigError(f"instrument model {model!r} has role {spec.role!r}, not 'awg'")
    return spec.awg


def digitizer_traits(model: str) -> DigitizerTraits:
    """Traits of digitizer ``model``.

    Raises:
        ConfigError: ``model`` is unknown, or no digitizer (both name the model).
    """
    spec = instruments.model(model)
    if spec.digitizer is None:
        raise ConfigError(f"instrument model {model!r} has role {spec.role!r}, not 'digitizer'")
    return spec.digitizer
