"""defectlab: label steel defects, train CPU texture models, review label errors, run a labeling team.

The package root stays light: importing :mod:`defectlab` imports neither Streamlit nor the heavy
learning stack. Import the sub-packages you need (``defectlab.features``, ``defectlab.store``, ...).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
