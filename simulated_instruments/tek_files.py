"""Readers of the Tektronix AWG70000/AWG5200 file formats: WFMX waveforms and SEQX bundles.

A ``.wfmx`` file is an XML header (its ``DataFile offset`` attribute gives the header length
in characters) followed by ``NumberSamples`` little-endian float32 samples in [-1, 1] (-1 is
the channel's minimum, 1 its maximum voltage) and, if ``MarkersIncluded`` is true, one
marker byte per sample. A ``.seqx`` file is a zip bundle of ``Sequences/<name>.sml`` (XML
sequence tables), ``Waveforms/<name>.wfmx`` and ``setup.xml``. These readers accept what
QCoDeS's ``TektronixAWG70000Base.makeWFMXFile`` / ``makeSEQXFile`` write.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["SeqStep", "SeqxBundle", "TekFileError", "TekSequence", "read_seqx", "read_wfmx"]

_NS = "{http://www.tektronix.com}"
_OFFSET = re.compile(rb'<DataFile\s+offset="(\d+)"')
MAX_SAMPLES = 2_000_000_000


class TekFileError(ValueError):
    """The bytes are not a well-formed WFMX or SEQX file."""


@dataclass(frozen=True)
class SeqStep:
    """One step of a sequence: per track the waveform name, repeats (0 = infinite),
    the trigger it waits for (``None``, ``TrigA``, ``TrigB``, ``Internal``) and the step
    played next (1-based; 0 = the next one)."""

    assets: tuple[str, ...]
    repeat: int
    wait: str
    goto: int


@dataclass(frozen=True)
class TekSequence:
    """A sequence: its name, number of tracks and steps."""

    name: str
    tracks: int
    steps: tuple[SeqStep, ...]


@dataclass(frozen=True)
class SeqxBundle:
    """The contents of a ``.seqx`` file."""

    sequences: tuple[TekSequence, ...]
    waveforms: dict[str, NDArray[np.float32]]


def _text(elem: ET.Element, tag: str, default: str = "") -> str:
    found = elem.find(_NS + tag)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def read_wfmx(data: bytes) -> NDArray[np.float32]:
    """The float32 samples of a ``.wfmx`` file (read-only array).

    Raises:
        TekFileError: bad header, sample count, or data length.
    """
    m = _OFFSET.search(data[:200])
    if m is None:
        raise TekFileError("no '<DataFile offset=...>' header")
    offset = int(m.group(1))
    if offset > len(data):
        raise TekFileError(f"header length {offset} beyond the file ({len(data)} bytes)")
    try:
        root = ET.fromstring(data[:offset].decode("utf-8"))
    except (ET.ParseError, UnicodeDecodeError) as exc:
        raise TekFileError(f"header is not XML: {exc}") from None
    desc = root.find(f"{_NS}DataSetsCollection/{_NS}DataSets/{_NS}DataDescription")
    if desc is None:
        raise TekFileError("no DataDescription in the header")
    try:
        n = int(_text(desc, "NumberSamples"))
    except ValueError:
        raise TekFileError("NumberSamples is not an integer") from None
    if not 0 < n <= MAX_SAMPLES:
        raise TekFileError(f"NumberSamples {n} out of range")
    if _text(desc, "NumberFormat", "Single") != "Single":
        raise TekFileError("only NumberFormat Single is supported")
    markers = _text(desc, "MarkersIncluded", "false").lower() == "true"
    expected = offset + 4 * n + (n if markers else 0)
    if len(data) != expected:
        raise TekFileError(f"file has {len(data)} bytes, header implies {expected}")
    samples = np.frombuffer(data, dtype="<f4", count=n, offset=offset).astype(np.float32)
    samples.flags.writeable = False
    return samples


def _read_sml(text: bytes) -> TekSequence:
    try:
        root = ET.fromstring(text.decode("utf-8"))
    except (ET.ParseError, UnicodeDecodeError) as exc:
        raise TekFileError(f"sequence file is not XML: {exc}") from None
    desc = root.find(f"{_NS}DataSetsCollection/{_NS}DataSets/{_NS}DataDescription")
    if desc is None:
        raise TekFileError("no DataDescription in the sequence file")
    steps_elem = desc.find(_NS + "Steps")
    if steps_elem is None:
        raise TekFileError("no Steps in the sequence file")
    tracks = int(steps_elem.get("TrackCount", "1"))
    steps: list[SeqStep] = []
    for step in steps_elem.findall(_NS + "Step"):
        repeat_kind = _text(step, "Repeat", "Once")
        repeat = 0 if repeat_kind == "Infinite" else int(_text(step, "RepeatCount", "1"))
        goto = 0 if _text(step, "GoTo", "Next") == "Next" else int(_text(step, "GoToStep", "1"))
        assets = tuple(
            _text(asset, "AssetName") for asset in step.findall(f"{_NS}Assets/{_NS}Asset")
        )
        if len(assets) != tracks:
            raise TekFileError(f"step {len(steps) + 1} has {len(assets)} assets, {tracks} tracks")
        steps.append(SeqStep(assets, repeat, _text(step, "WaitInput", "None"), goto))
    if len(steps) != int(steps_elem.get("StepCount", len(steps))):
        raise TekFileError("StepCount does not match the steps")
    return TekSequence(_text(desc, "SequenceName"), tracks, tuple(steps))


def read_seqx(data: bytes) -> SeqxBundle:
    """Sequences and waveforms of a ``.seqx`` bundle.

    Raises:
        TekFileError: not a zip, bad sequence or waveform file, or a step naming a waveform
            that is neither in the bundle (the caller checks its waveform list).
    """
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise TekFileError(f"not a seqx bundle: {exc}") from None
    sequences: list[TekSequence] = []
    waveforms: dict[str, NDArray[np.float32]] = {}
    with bundle:
        for info in bundle.infolist():
            path = info.filename.replace("\\", "/")
            folder, _, base = path.rpartition("/")
            stem = base.rsplit(".", 1)[0]
            if folder == "Sequences" and base.endswith(".sml"):
                sequences.append(_read_sml(bundle.read(info)))
            elif folder == "Waveforms" and base.endswith(".wfmx"):
                waveforms[stem] = read_wfmx(bundle.read(info))
    if not sequences:
        raise TekFileError("the bundle holds no sequence")
    return SeqxBundle(tuple(sequences), waveforms)
