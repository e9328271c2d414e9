"""imgsvc: the image service from the command line (bulk import and everyday use)."""

__version__ = "0.1.0"
