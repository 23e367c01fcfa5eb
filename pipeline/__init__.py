"""mailroom: scanner folder → OCR → classification → library, with a review queue."""
__version__ = "0.1.0"
