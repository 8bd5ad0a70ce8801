"""LawBench: 20 Chinese legal sub-tasks scored by their own rules, averaged."""
