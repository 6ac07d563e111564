"""Everything that runs outside the web process: CLI, scheduler, pushes, sweeps, reports."""
