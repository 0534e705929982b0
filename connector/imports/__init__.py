"""File imports: admin-center exports, saved ``SmtpCSReport`` files, ``Get-CASMailbox`` exports and saved Graph
payloads, loaded through the same normalizers and store as a sync (``smtpauth import``, the ``inbox/`` folder).
"""

from connector.imports.files import FILE_KINDS, ImportOptions, ImportRefused, ImportResult, import_file
from connector.imports.payloads import LOADABLE_SOURCES, load_payload

__all__ = [
    "FILE_KINDS",
    "LOADABLE_SOURCES",
    "ImportOptions",
    "ImportRefused",
    "ImportResult",
    "import_file",
    "load_payload",
]
