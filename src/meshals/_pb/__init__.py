"""Generated protobuf classes for the ALS wire schema in ``protos/``.

Do not edit: regenerate with ``nox -s protos`` (``tools/gen_protos.py``).
"""
