"""``qneko calibrate``: a calibration session shown by a presenter.

Ctrl-C stops after the current routine (a second Ctrl-C aborts it); every run file and
store commit made so far stays, what was done is printed, and the exit code is 130. A rerun
resumes: ``check_state`` skips every node whose values in the store are fresh.
"""

from __future__ import annotations

from qneko_hw.cli.session import EXIT_INTERRUPTED, CalibrateOptions, CalibrationSession

__all__ = ["EXIT_INTERRUPTED", "run_calibrate"]


def run_calibrate(options: CalibrateOptions) -> int:
    """Run a calibration session on the console; returns the exit code (0: every qubit
    calibrated, 1: one failed, 130: interrupted by Ctrl-C).

    Raises:
        QnekoError: bad options or files (before anything runs), or a fault of the
            instruments.
    """
    from rich.console import Console

    from qneko_hw.cli.present import Presenter, stop_on_sigint

    console = Console()
    session = CalibrationSession.load(options)
    presenter = Presenter(console)
    with stop_on_sigint(console) as stop:
        done = session.run(presenter, stop)
    presenter.finished(done)
    return done.exit_code
