"""The autoencoders: genreport's builders and catalogue, and the checks, size bound and loading of any .keras archive."""
