"""HoC: Hallmarks of Cancer multi-label classification of PubMed abstracts."""
