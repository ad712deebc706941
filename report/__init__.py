"""genreport's presenting half: figures, templates, HTML and PDF, and the command line.

It reads only saved results (``OUT/results``), never TensorFlow models.
"""
