"""Device connectors: the code that installs certificates on devices.

Only the scheduler process and the CLI import this package; the web process
never does (it records intent instead).
"""
