"""A stand-in for the importer's reading task that kills its worker process on chosen images (tests of the
import's worker processes import it by name, as the workers do when they unpickle the task)."""

import os

from defectlab.ingest import importer


def prepare_or_die(images, args):
    if any("die" in img.source for img in images):
        os._exit(3)  # what a decoder crash (SIGSEGV) or the out-of-memory killer does to a worker
    return [importer._prepare_one(img, *args) for img in images]
