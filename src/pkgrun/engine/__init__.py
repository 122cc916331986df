"""Containers: podman and docker behind one Engine, containers that always go away, the OCI
runtime and ulimits chosen for the host, and the target images. Imports only the base."""
