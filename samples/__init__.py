"""Sample scans for the demo, the tests and the OCR benchmark."""
