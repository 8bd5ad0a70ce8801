"""GTA: step-by-step tool-call prediction (General Tool Agents benchmark)."""
