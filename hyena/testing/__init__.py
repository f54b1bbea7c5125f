"""Test helpers shipped with hyena: reference models, hypothesis strategies, fixtures."""
