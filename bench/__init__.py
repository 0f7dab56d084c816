"""Benchmark: Gantry against Ansible's compose module and a plain ssh loop on lab hosts (`python -m bench`)."""
