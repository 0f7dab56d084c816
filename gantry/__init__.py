"""Gantry: Kubernetes-free deployment orchestrator for Docker Compose."""

__version__ = "0.1.0"
