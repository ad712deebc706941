"""genreport's computing half: data, models, training, tuning and scoring.

Nothing here imports ``report`` (or jinja2, weasyprint, matplotlib): results leave this
package as plain data saved under ``OUT/results``.
"""

__version__ = "0.1.0"
