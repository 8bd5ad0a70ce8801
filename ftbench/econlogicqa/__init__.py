"""EconLogicQA: ordering four economic events into their logical sequence."""
