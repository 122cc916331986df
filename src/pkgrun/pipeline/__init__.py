"""A run: preflight, decisions from what is published, the build of one recipe, the scheduler
over build hosts, delivery, the nightly job, rebuilds and the report. Imports everything but cli."""
