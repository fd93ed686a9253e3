"""Immutable attachments: files stored under server-generated names with their SHA-256.

``models`` (the ``core_attachment`` row), ``sniff`` (media type from content, file names),
``storage`` (the folder, atomic writes, clean-up of files whose transaction did not commit) and
``service`` (``add_attachment``, ``open_attachment``, ``attachments_of``, the reconciler).
"""
