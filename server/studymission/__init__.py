"""studymission: run virtual study missions and certify who attended every session."""

__version__ = "0.1.0"
