"""File imports: admin-center exports, saved ``SmtpCSReport`` files, ``Get-CASMailbox`` exports and saved Graph
payloads, loaded through the same normalizers and store as a sync (``smtpauth import``, the ``inbox/`` folder).
"""

from connector.imports.batch import FileOutcome, ImportBatch, expand_paths, import_files
from connector.imports.files import FILE_KINDS, ImportOptions, ImportRefused, ImportResult, import_file
from connector.imports.payloads import LOADABLE_SOURCES, load_payload

__all__ = [
    "FILE_KINDS",
    "LOADABLE_SOURCES",
    "FileOutcome",
    "ImportBatch",
    "ImportOptions",
    "ImportRefused",
    "ImportResult",
    "expand_paths",
    "import_file",
    "import_files",
    "load_payload",
]
