"""Registration of incoming mail: numbers, processing deadlines, acknowledgements of receipt, the register."""
