"""pyvisa-sim YAML twins of the instrument models, for tests that need no physics.

Load one with ``pyvisa.ResourceManager(f"{path}@sim")`` where ``path`` is
``importlib.resources.files("qneko_hw.drivers.sim") / "<model>.yaml"``; each file serves
its model at ``TCPIP::127.0.0.1::5025::SOCKET`` (and ``GPIB::1::INSTR``).
"""
